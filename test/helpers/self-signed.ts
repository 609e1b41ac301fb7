import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';

export interface CertPair {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, as a TLS peer sees it (`getPeerCertificate().fingerprint256`). */
  fingerprint: string;
}

/** A fresh self-signed certificate for localhost / 127.0.0.1, made with openssl (EC P-256, 1 day). */
export function selfSigned(cn = 'localhost'): CertPair {
  const dir = mkdtempSync(join(tmpdir(), 'fg-tls-'));
  const [keyPath, certPath] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore', timeout: 20_000 });
  const cert = readFileSync(certPath, 'utf8');
  return { cert, key: readFileSync(keyPath, 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256 };
}

/** Writes a pair to fixed paths the way deploy tools do: a temporary file, then an atomic rename. */
export function installPair(pair: CertPair, certPath: string, keyPath: string): void {
  writeFileSync(`${keyPath}.tmp`, pair.key);
  writeFileSync(`${certPath}.tmp`, pair.cert);
  renameSync(`${keyPath}.tmp`, keyPath);
  renameSync(`${certPath}.tmp`, certPath);
}
