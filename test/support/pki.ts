// TLS tests need a throwaway PKI that the servers (Go's crypto/tls) and undici both accept: a CA,
// a server certificate for 127.0.0.1/localhost (Go ignores the CN, so the SAN is what counts) and
// a client certificate for mutual TLS. We drive the openssl CLI with our own config file so the
// result does not depend on the machine's openssl.cnf; EC P-256 keys keep it to a few ms each.
// The server certificate also carries clientAuth: etcd 3.4's JSON gateway dials its own gRPC
// port presenting the server certificate, and with --client-cert-auth a serverAuth-only
// certificate is rejected ("incompatible key usage"), so the gateway never becomes ready.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PkiPaths {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export interface Pki {
  caCert: string;
  caKey?: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  paths: PkiPaths;
}

const CLIENT_CN = 'skiff-test-client';

/** `serverIps`: more addresses the server certificate is valid for (a server in a test netns on its underlay address). */
const opensslConfig = (serverIps: readonly string[]) => `
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost${serverIps.map((ip) => `, IP:${ip}`).join('')}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** Creates ca.{crt,key}, server.{crt,key} and client.{crt,key} in `dir` (which must exist); the server's for 127.0.0.1, localhost and `serverIps`. */
export async function makePki(dir: string, serverIps: readonly string[] = []): Promise<Pki> {
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, opensslConfig(serverIps));
  const paths: PkiPaths = {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
  const common = ['-x509', '-config', config, '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'];
  await openssl([...common, '-keyout', paths.caKey, '-out', paths.caCert, '-subj', '/CN=skiff-test-ca', '-extensions', 'ca_ext']);
  const signedByCa = (cn: string, ext: string, cert: string, key: string) =>
    openssl([
      ...common,
      '-CA', paths.caCert,
      '-CAkey', paths.caKey,
      '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-keyout', key,
      '-out', cert,
      '-subj', `/CN=${cn}`,
      '-extensions', ext,
    ]);
  await Promise.all([
    signedByCa('127.0.0.1', 'server_ext', paths.serverCert, paths.serverKey),
    signedByCa(CLIENT_CN, 'client_ext', paths.clientCert, paths.clientKey),
  ]);
  const [caCert, caKey, serverCert, serverKey, clientCert, clientKey] = await Promise.all(
    [paths.caCert, paths.caKey, paths.serverCert, paths.serverKey, paths.clientCert, paths.clientKey].map((p) =>
      readFile(p, 'utf8'),
    ),
  );
  return {
    caCert: caCert!,
    caKey: caKey!,
    serverCert: serverCert!,
    serverKey: serverKey!,
    clientCert: clientCert!,
    clientKey: clientKey!,
    paths,
  };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', ['req', ...args], { env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl req ${args.join(' ')} failed: ${stderr.trim() || String(err)}`, { cause: err });
  }
}
