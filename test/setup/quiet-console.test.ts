import * as path from 'node:path';
import { run } from '../../lib/util/command';
import { takeConsoleOutput } from './quiet-console';

const ROOT = path.resolve(__dirname, '../..');

test('output a test takes is returned once, in order, with its method', () => {
  console.log('one %d', 1);
  console.error('two');
  expect(takeConsoleOutput()).toEqual(['log: one 1', 'error: two']);
  expect(takeConsoleOutput()).toEqual([]);
});

test('a test that prints without taking the output fails, naming what it printed', async () => {
  const config = {
    rootDir: ROOT,
    testEnvironment: 'node',
    transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
    testMatch: ['<rootDir>/test/setup/fixtures/prints.fixture.ts'],
    setupFilesAfterEnv: ['<rootDir>/test/setup/quiet-console.ts'],
  };
  const jest = require.resolve('jest/bin/jest');
  const r = await run(process.execPath, [jest, '--ci', '--config', JSON.stringify(config)], { cwd: ROOT, timeoutMs: 120_000, allowFailure: true });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('✕ prints without asserting');
  expect(r.stderr).toContain('✓ prints and takes it');
  expect(r.stderr).toMatch(/the test printed output it did not assert \(take it with takeConsoleOutput\(\)\):\s+log: an unexpected line/);
}, 120_000);
