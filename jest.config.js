// Three projects. `unit` runs in seconds and needs nothing but Node; `package` packs the library
// and installs it into a separate app (a minute); `cluster` boots real Patroni, etcd, HAProxy and
// PostgreSQL in network namespaces (root only, minutes). `npm test` runs all three;
// `npm run test:unit` runs the quick one.
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // Several unit suites drive real tools (Patroni, PyYAML, HAProxy, PostgreSQL) on shared, noisy
  // machines: the 5 s default fails for load, not for a bug. Cluster drills set their own limits.
  testTimeout: 60_000,
};

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cluster/', '<rootDir>/test/package/'],
    },
    {
      ...common,
      displayName: 'package',
      testMatch: ['<rootDir>/test/package/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
    },
  ],
};
