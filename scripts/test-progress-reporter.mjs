// A node:test reporter for scripts/run-tests.mjs: one JSON line per test that starts running
// (`test:dequeue`) or ends (`test:pass`/`test:fail`), and per top-level test queued, with the time. The runner reads this file
// to tell which test is running when a file stops making progress, so a hung test is reported
// by its name on every Node version (Node 20 and 22 ignore `--test-timeout` outside `--test`).
export default async function* progress(source) {
  for await (const event of source) {
    if (['test:enqueue', 'test:dequeue', 'test:pass', 'test:fail'].includes(event.type)) {
      if (event.type === 'test:enqueue' && event.data.nesting > 0) continue;
      const { name, nesting } = event.data;
      yield `${JSON.stringify({ e: event.type.slice(5), name, nesting, at: Date.now() })}\n`;
    }
  }
}
