// What Debian's own bookworm EC2 AMI contains, as the booted rehearsal's image recipe. Read from
// debian-cloud-images (config_space/bookworm/package_config, upstream commit e1910bcd3; see
// docs/design.md "Debian's bookworm EC2 image"). The rehearsal image is this and nothing more, so
// a tool the node bootstrap needs but the AMI lacks fails here as it would on EC2.

/** The root file system's base: `debootstrap --variant=minbase`. */
export const IMAGE_SUITE = 'bookworm';
export const IMAGE_MIRROR = 'http://deb.debian.org/debian';

/**
 * Packages the AMI's classes add to minbase (installed without recommends, as the FAI classes do):
 * CLOUD, EC2, EXTRAS, SYSTEM_BOOT. Left out, because a container boots no kernel of its own:
 * `linux-image-cloud-amd64`, `grub-cloud-amd64`, `cloud-initramfs-growroot`.
 */
export const EC2_IMAGE_PACKAGES: readonly string[] = [
  // CLOUD
  'openssh-server', 'ssh-import-id',
  // EC2
  'awscli', 'cloud-init', 'cloud-guest-utils', 'amazon-ec2-utils',
  // EXTRAS
  'apt-listchanges', 'bash-completion', 'bind9-host', 'less', 'man-db', 'manpages', 'socat', 'pciutils', 'reportbug',
  'traceroute', 'vim', 'psmisc', 'tcpdump', 'ca-certificates', 'curl', 'ethtool', 'uuid-runtime', 'screen', 'xz-utils',
  // SYSTEM_BOOT
  'sudo', 'libpam-systemd', 'systemd-resolved', 'libnss-myhostname', 'netplan.io', 'polkitd', 'unattended-upgrades',
  'apparmor', 'zstd', 'apt-utils', 'init', 'iptables', 'iputils-ping', 'nano', 'netbase', 'vim-tiny', 'whiptail',
  'systemd-timesyncd',
  // The kernel packages left out above bring udev (initramfs-tools depends on it); the AMI has it.
  'udev',
];

/** The AMI's APT sources (`/etc/apt/sources.list.d/debian.sources`). */
export const EC2_IMAGE_SOURCES = `Types: deb
URIs: ${IMAGE_MIRROR}
Suites: bookworm bookworm-updates bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
