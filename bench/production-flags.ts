/**
 * The node flags of the documented production command (`npm start`, docs/going-live.md): a small young generation
 * (4 MB semi-spaces) keeps the server's RSS under load near its live heap instead of V8's default of up to 128 MB of
 * young garbage (docs/performance.md, "Memory"). The benchmarks run the compiled server with them.
 */
export const PRODUCTION_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
