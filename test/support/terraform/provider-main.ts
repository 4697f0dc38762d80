/**
 * Entry point of the stand-in `terraform-provider-google` (Terraform starts it from the
 * filesystem mirror that terraform-cli.ts writes). It speaks HashiCorp go-plugin's handshake
 * with AutoMTLS: Terraform passes its client certificate in PLUGIN_CLIENT_CERT; we serve gRPC
 * over TLS with a fresh self-signed certificate that requires that client certificate, and
 * announce ourselves with one line on stdout:
 *
 *   1|6|tcp|127.0.0.1:<port>|grpc|<server certificate, DER, base64 without padding>
 *
 * (core protocol 1, plugin protocol 6). Logs go to stderr, which Terraform keeps in TF_LOG.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { Provider } from '../../../proto/gen/tfplugin6/tfplugin6_pb.ts';
import { GcpSimClient } from './gcp-sim-client.ts';
import { loadProviderSchema } from './provider-schema.ts';
import { errorDiagnostic, StandInProvider } from './provider-service.ts';

/** Terraform's go-plugin handshake cookie: tells a provider it was started by Terraform. */
const MAGIC_COOKIE_KEY = 'TF_PLUGIN_MAGIC_COOKIE';
const MAGIC_COOKIE_VALUE = 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2';
const PROTOCOL_VERSION = 6;

function fail(message: string): never {
  process.stderr.write(`terraform-provider-google (lightning stand-in): ${message}\n`);
  process.exit(1);
}

/** go-plugin's client dials "localhost" and trusts exactly this certificate. */
function serverCertificate(): { keyPem: string; certPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tf-standin-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-addext',
        'extendedKeyUsage=serverAuth',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return {
      keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'),
      certPem: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } catch (err) {
    fail(`openssl could not make the TLS certificate go-plugin needs: ${(err as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** grpc-js handlers for every implemented method; the rest answer UNIMPLEMENTED, as Terraform expects. */
function handlers(provider: StandInProvider): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const method of Provider.methods) {
    const fn = (provider as unknown as Record<string, unknown>)[method.localName];
    if (typeof fn !== 'function') continue;
    impl[method.localName] = (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      // Terraform shows a provider's stderr in its log (TF_LOG=debug): one line per call.
      process.stderr.write(`rpc ${method.name}\n`);
      Promise.resolve()
        .then(() => fn.call(provider, call.request))
        .then(
          (response) => callback(null, response),
          (err: Error) => {
            // A failure becomes an error diagnostic Terraform prints, not a transport error.
            process.stderr.write(`${method.name} failed: ${err.stack ?? err.message}\n`);
            callback(
              null,
              create(method.output, {
                diagnostics: [errorDiagnostic(`stand-in provider: ${err.message}`)],
              } as never),
            );
          },
        );
    };
  }
  return impl;
}

/** The service's methods from the generated descriptor, with protobuf-es doing the (de)serialization. */
function serviceDefinition(): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of Provider.methods) {
    def[m.localName] = {
      path: `/${Provider.typeName}/${m.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (v) => Buffer.from(toBinary(m.input, v as never)),
      requestDeserialize: (b) => fromBinary(m.input, b),
      responseSerialize: (v) => Buffer.from(toBinary(m.output, v as never)),
      responseDeserialize: (b) => fromBinary(m.output, b),
    };
  }
  return def;
}

async function main(): Promise<void> {
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    fail(
      'this is a Terraform provider plugin: Terraform starts it (see test/support/terraform/terraform-cli.ts)',
    );
  }
  const versions = (process.env.PLUGIN_PROTOCOL_VERSIONS ?? String(PROTOCOL_VERSION)).split(',');
  if (!versions.includes(String(PROTOCOL_VERSION))) {
    fail(
      `Terraform offers plugin protocols ${versions.join(',')}; this stand-in speaks only ${PROTOCOL_VERSION}`,
    );
  }
  const clientCert = process.env.PLUGIN_CLIENT_CERT;
  if (!clientCert)
    fail('PLUGIN_CLIENT_CERT is not set: Terraform >= 0.15 always uses AutoMTLS with providers');

  const provider = new StandInProvider(loadProviderSchema(), GcpSimClient.fromEnv());
  const { keyPem, certPem } = serverCertificate();
  const server = new grpc.Server({
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
  });
  server.addService(serviceDefinition(), handlers(provider));
  const credentials = grpc.ServerCredentials.createSsl(
    Buffer.from(clientCert),
    [{ private_key: Buffer.from(keyPem), cert_chain: Buffer.from(certPem) }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  const der = new X509Certificate(certPem).raw.toString('base64').replace(/=+$/, '');
  process.stdout.write(`1|${PROTOCOL_VERSION}|tcp|127.0.0.1:${port}|grpc|${der}\n`);
}

main().catch((err: Error) => fail(err.stack ?? err.message));
