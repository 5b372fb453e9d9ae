/** Command-line flags shared by the benchmark scripts. */

/** `--quick`: short runs for a smoke check. */
export const quick = process.argv.includes('--quick');

/** `--profile`: also run a Coatcheck server under `--cpu-prof` and summarise where time goes. */
export const profile = process.argv.includes('--profile');

/** The value of `--name=value`, or undefined. */
export function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

/** The items named by `--<name>=a,b` on the command line (all of them without the flag). */
export function chosen<T extends string>(all: readonly T[], name: string): readonly T[] {
  const named = flag(name)?.split(',');
  return named === undefined ? all : all.filter((item) => named.includes(item));
}

/** Prints a progress line to stderr (stdout carries the results). */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}
