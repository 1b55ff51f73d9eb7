/**
 * Terminal output of the command-line tools. Deliberately not the service logger: these lines are the
 * commands' user interface (a checklist, a summary), written for a person at a terminal, and carry no secrets.
 */
export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function printError(line: string): void {
  process.stderr.write(`${line}\n`);
}
