// Finding and killing what a test file started, from /proc (Linux). Tests start their servers in
// their own process groups (test/helpers/spawn-group.ts), so killing the test file's group alone
// would leave them running; the runner walks the tree instead, and also finds processes that
// outlived their parent (reparented to init) by the run marker every test process inherits.
import { readdirSync, readFileSync } from 'node:fs';

/** pid → { ppid, pgid } for every process we can read. */
export function processTable() {
  const table = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // the command name is in parentheses and may contain spaces: fields start after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), { ppid: Number(fields[1]), pgid: Number(fields[2]) });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** Every descendant of `root` (not `root` itself). */
export function descendants(root, table = processTable()) {
  const children = new Map();
  for (const [pid, { ppid }] of table) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const out = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Processes whose environment holds `name=value` (the run marker), other than this one. */
export function markedProcesses(name, value) {
  const needle = `\0${name}=${value}\0`;
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (`\0${readFileSync(`/proc/${entry}/environ`, 'latin1')}`.includes(needle)) out.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

export function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 160);
  } catch {
    return '';
  }
}

/** SIGKILL each pid and its process group (never our own group). Returns the pids signalled. */
export function killAll(pids, table = processTable()) {
  const own = table.get(process.pid)?.pgid;
  const groups = new Set();
  for (const pid of pids) {
    const pgid = table.get(pid)?.pgid;
    if (pgid && pgid !== own && pgid > 1) groups.add(pgid);
  }
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
}
