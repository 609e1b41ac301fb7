// Runs the probe in its own process (so it can run inside a network namespace or under prlimit)
// and prints the RunEvidence as one JSON line.
import { probe, type ProbeOptions } from './evidence-probe.js';

const opts = JSON.parse(process.argv[2]) as ProbeOptions;
const evidence = await probe(opts);
process.stdout.write(`${JSON.stringify(evidence)}\n`);
