#!/usr/bin/env node
// Writes the settings tables of docs/configuration.md from the setting specs (run after `npm run build`).
// test/config/configuration-docs.test.ts fails when the page is out of step.
import { readFileSync, writeFileSync } from 'node:fs';
import { SERVER_SETTINGS } from '../dist/config/server-settings.js';
import { describeAccepted, describeDefault, envName, flagName } from '../dist/config/setting.js';

const docPath = new URL('../docs/configuration.md', import.meta.url);
const rows = SERVER_SETTINGS.map((s) => {
  const def = describeDefault(s);
  return `| \`${s.key}\` | \`${flagName(s.key)}\` | \`${envName(s.key)}\` | ${describeAccepted(s)} | ${def} | ${s.doc} |`;
});
const table = ['| setting (file key) | flag | environment | accepts | default | meaning |', '|---|---|---|---|---|---|', ...rows].join('\n');
const page = readFileSync(docPath, 'utf8');
const begin = '<!-- serve-settings:begin -->';
const end = '<!-- serve-settings:end -->';
const next = page.replace(new RegExp(`${begin}[\\s\\S]*${end}`), `${begin}\n${table}\n${end}`);
writeFileSync(docPath, next);
