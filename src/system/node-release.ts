/**
 * End-of-life dates of Node.js release lines (nodejs.org/en/about/previous-releases): even
 * majors are LTS for 30 months after they enter LTS, odd majors live about 8 months. The startup
 * block warns on a runtime past its date, because it no longer gets security fixes.
 */
const END_OF_LIFE: Record<number, string> = {
  16: '2023-09-11',
  17: '2022-06-01',
  18: '2025-04-30',
  19: '2023-06-01',
  20: '2026-04-30',
  21: '2024-06-01',
  22: '2027-04-30',
  23: '2025-06-01',
  24: '2028-04-30',
  25: '2026-06-01',
  26: '2029-04-30',
};

/** The release lines the test suite runs on (`.ci/run`); `engines` in package.json lists the same. */
export const TESTED_NODE_MAJORS = [20, 22, 24] as const;

export interface NodeReleaseStatus {
  version: string;
  major: number;
  /** YYYY-MM-DD, when known. */
  endOfLife: string | undefined;
  endOfLifeReached: boolean;
  /** A warning for the startup block, when the runtime is past its end of life. */
  warning: string | undefined;
}

export function nodeReleaseStatus(version: string = process.version, now: Date = new Date()): NodeReleaseStatus {
  const major = Number(version.replace(/^v/, '').split('.')[0]);
  const endOfLife = END_OF_LIFE[major] ?? (major < 16 ? '2022-01-01' : undefined);
  const endOfLifeReached = endOfLife !== undefined && now.getTime() >= Date.parse(`${endOfLife}T00:00:00Z`);
  const warning = endOfLifeReached
    ? `Node ${version.replace(/^v/, '')} reached end of life on ${endOfLife} and gets no security fixes; run Floodgate on Node 24 (LTS) or 22`
    : undefined;
  return { version, major, endOfLife, endOfLifeReached, warning };
}
