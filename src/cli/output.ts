// Human output helpers: colour only on a TTY (chalk decides), JSON always plain.
import chalk from "chalk";

export const color = chalk;

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function isTty(): boolean {
  return Boolean(process.stdout.isTTY);
}
