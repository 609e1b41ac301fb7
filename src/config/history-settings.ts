import type { SettingSpec } from './setting.js';

/**
 * The history bounds of a channel. Top-level settings, and the same keys (same ranges, same
 * units) inside each channel namespace: one definition, so both are checked alike.
 */
export const HISTORY_SETTINGS: readonly SettingSpec[] = [
  { key: 'historySize', kind: 'int', min: 0, max: 10_000_000, default: 1000, doc: 'Messages kept per channel for recovery.' },
  { key: 'historyBytes', kind: 'size', min: 0, max: 1024 ** 3, default: 1024 ** 2, doc: 'Bytes of history kept per channel.' },
  { key: 'historyTtl', kind: 'duration', min: 0, max: 30 * 86_400_000, default: 300_000, doc: 'How long a message stays in history; 0 = no age bound.' },
];
