// Four projects, by what they need (README "Tests" and CONTRIBUTING.md say how long each takes):
// - unit: Node alone (`npm run test:unit`). Constructs, renderers, the CLI and the client against
//   in-process fakes. Never starts anything but Node.
// - tools: the rendered files handed to the real programs (`*.tools.test.ts`): Patroni, etcd,
//   HAProxy, PostgreSQL, PyYAML, shellcheck, systemd-analyze, bash.
// - package: `npm pack`, then the tarball installed into a separate CDK app.
// - cluster: the local rehearsal cluster for real (Linux, root; minutes; run one suite at a time).
// tools and cluster share a global setup that installs their Debian packages (as root) or stops
// the run with one line saying what to install.
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // Expected output (CDK's annotation reports, a CLI's one-line errors) is captured and asserted;
  // anything else a test prints fails it, so a passing run stays quiet.
  setupFilesAfterEnv: ['<rootDir>/test/setup/quiet-console.ts'],
};
const installsPackages = { globalSetup: '<rootDir>/test/setup/debian-packages.ts' };

module.exports = {
  // A global option (jest ignores it inside a project). Real tools on shared, noisy 2-core machines:
  // the 5 s default fails for load, not for a bug. Cluster drills and the package test set their own.
  testTimeout: 60_000,
  // CI shows only the head and tail of a long run: every failure is repeated at the end, however
  // few suites ran (jest's default repeats them only past 20 suites).
  reporters: [['default', { summaryThreshold: 0 }]],
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '\\.tools\\.test\\.ts$', '<rootDir>/test/cluster/', '<rootDir>/test/package/'],
    },
    {
      ...common,
      ...installsPackages,
      displayName: 'tools',
      testMatch: ['<rootDir>/test/**/*.tools.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cluster/'],
    },
    {
      ...common,
      displayName: 'package',
      testMatch: ['<rootDir>/test/package/**/*.test.ts'],
    },
    {
      ...common,
      ...installsPackages,
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
      // Progress lines of minutes-long drills are the point here.
      setupFilesAfterEnv: [],
    },
  ],
};
