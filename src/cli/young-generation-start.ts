// Imported by main.ts before the rest of the CLI loads: V8's young generation starts small and
// doubles while start-up allocates (measured: ~16 MiB grown before the gateway could apply its
// `youngGeneration` setting, and Node 20 gave it back only seconds later), so every command starts
// with the growth stopped. `serve` then applies its setting (`grow` turns growth back on) and the
// bench command keeps it off; a semi-space flag given to Node itself is left alone.
import { setFlagsFromString } from 'node:v8';
import { youngGenerationFlag } from '../server/memory-release.js';

if (youngGenerationFlag() === undefined) {
  try {
    setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    // a runtime that refuses the flag grows as it always did
  }
}
