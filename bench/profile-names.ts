// How the bench's reports name the timing profiles.
export const PROFILE_NAME: Readonly<Record<string, string>> = { default: 'DEFAULT', fast: 'FAST', stock: 'Stock baseline' };

export function profileName(profile: string): string {
  return PROFILE_NAME[profile] ?? profile;
}
