import { CommandError, run, start } from '../../lib/util/command';

const node = process.execPath;
const script = (code: string) => [node, ['-e', code]] as const;

describe('run', () => {
  test('captures stdout and stderr, and passes input', async () => {
    const r = await run(...script("process.stdin.pipe(process.stdout); process.stderr.write('e')"), { input: 'hello' });
    expect(r).toEqual({ code: 0, stdout: 'hello', stderr: 'e' });
  });

  test('a missing program is one line naming it, not a crash', async () => {
    const err = await run('/nonexistent/etcd', ['--version']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as Error).message).toBe('/nonexistent/etcd: not installed (no such program on PATH)');
  });

  test('a non-zero exit names the command, the code and the last line of stderr', async () => {
    const err = await run(...script("console.error('first'); console.error('why it failed'); process.exit(3)")).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^\S+ -e .* exited with 3: why it failed$/);
  });

  test('allowFailure returns the exit code instead', async () => {
    const r = await run(...script('process.exit(4)'), { allowFailure: true });
    expect(r).toEqual({ code: 4, stdout: '', stderr: '' });
  });

  test('a command past its time is killed and reported as timed out', async () => {
    const err = await run(...script('setTimeout(() => undefined, 60_000)'), { timeoutMs: 300 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^timed out after 0\.3 s: /);
  });

  test('a command killed by a signal says which; with allowFailure it is 128 + the number', async () => {
    const suicide = script("process.kill(process.pid, 'SIGTERM'); setTimeout(() => undefined, 5000)");
    await expect(run(...suicide)).rejects.toThrow(/was killed by SIGTERM$/);
    expect(await run(...suicide, { allowFailure: true })).toMatchObject({ code: 143, signal: 'SIGTERM' });
  });
});

describe('start', () => {
  test('started() gives the PID and exitCode() the code', async () => {
    const cmd = start(...script('process.exit(7)'), { stdio: 'ignore' });
    expect(await cmd.started()).toBeGreaterThan(0);
    expect(await cmd.exitCode()).toBe(7);
    expect(cmd.finished).toBe(true);
  });

  test('a missing program rejects started() and exitCode() with one line; nothing is thrown unhandled', async () => {
    const cmd = start('/nonexistent/patroni', [], { stdio: 'ignore' });
    await expect(cmd.started()).rejects.toThrow('/nonexistent/patroni: not installed (no such program on PATH)');
    await expect(cmd.exitCode()).rejects.toBeInstanceOf(CommandError);
  });

  test('stop() sends SIGTERM, then SIGKILL to a program that ignores it', async () => {
    const stubborn = start(...script("process.on('SIGTERM', () => undefined); console.log('ready'); setInterval(() => undefined, 1000)"), {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve) => stubborn.child.stdout!.once('data', () => resolve()));
    expect(stubborn.finished).toBe(false);
    expect(await stubborn.stop(200)).toBe(128 + 9);
  });

  test('stop() of a program that honours SIGTERM', async () => {
    const polite = start(...script('setInterval(() => undefined, 1000)'), { stdio: 'ignore' });
    await polite.started();
    expect(await polite.stop(10_000)).toBe(128 + 15);
  });
});
