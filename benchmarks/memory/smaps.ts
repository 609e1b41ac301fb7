import { readFileSync } from 'node:fs';

/**
 * A process's RSS split by kind of mapping, KiB, from /proc/<pid>/smaps: `heap` is glibc's main
 * arena (the brk heap, where Buffers and other C allocations of the main thread live), `anon` the
 * anonymous mappings (V8's heap pages, other threads' malloc arenas, large allocations), `file`
 * mapped files (the node binary, libraries).
 */
export function smapsSplit(pid: number): { heap: number; anon: number; file: number } {
  const out = { heap: 0, anon: 0, file: 0 };
  let kind: 'heap' | 'anon' | 'file' = 'anon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      const name = line.trim().split(/\s+/)[5] ?? '';
      kind = name === '[heap]' ? 'heap' : name === '' || name.startsWith('[') ? 'anon' : 'file';
    } else if (line.startsWith('Rss:')) {
      out[kind] += Number(line.split(/\s+/)[1]);
    }
  }
  return out;
}
