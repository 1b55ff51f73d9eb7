/**
 * Runs once around the whole test run. Race tests only race on the PostgreSQL server (the embedded database
 * serializes every transaction), so a run without DATABASE_URL ends with a warning nobody can miss.
 */
export default function setup(): () => void {
  return () => {
    if (process.env['DATABASE_URL']) return;
    const line = '!'.repeat(100);
    process.stderr.write(
      [
        '',
        line,
        '!!  DATABASE_URL is not set: every test ran on the embedded database only.',
        '!!  Race and multi-worker tests did NOT race (PGlite serializes transactions) and the server-only ones',
        '!!  were skipped. Run them as CI does:',
        '!!    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres npm test',
        line,
        '',
      ].join('\n'),
    );
  };
}
