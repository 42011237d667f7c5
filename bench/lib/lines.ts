// Read a child's output line by line, stamping each line with the harness
// clock when it arrives (the tools we compare print when they act).

export interface StampedLine {
  tS: number;
  line: string;
}

export function collectLines(
  stream: ReadableStream<Uint8Array> | null | undefined,
  now: () => number,
  sink: StampedLine[],
  onLine?: (l: StampedLine) => void,
): Promise<void> {
  if (!stream) return Promise.resolve();
  const decoder = new TextDecoder();
  let buf = "";
  return (async () => {
    for await (const chunk of stream) {
      buf += decoder.decode(chunk, { stream: true });
      let i = buf.indexOf("\n");
      while (i >= 0) {
        const l = { tS: now(), line: buf.slice(0, i) };
        buf = buf.slice(i + 1);
        sink.push(l);
        onLine?.(l);
        i = buf.indexOf("\n");
      }
    }
    if (buf) sink.push({ tS: now(), line: buf });
  })().catch(() => {});
}
