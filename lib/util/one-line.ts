/** The message of anything thrown, on one line (an AWS SDK error keeps its code, which is in `name`). */
export function oneLine(err: unknown): string {
  let text: string;
  if (err instanceof Error) {
    text = err.message || err.name;
    const fromAws = typeof (err as { $metadata?: unknown }).$metadata === 'object';
    if (fromAws && err.name && !text.includes(err.name)) text = `${err.name}: ${text}`;
  } else {
    text = String(err);
  }
  return text.replace(/\s*\n\s*/g, ' | ').trim();
}
