// `parm serve`'s gRPC flags in process: --grpc-port (a port, 0, or off), --no-grpc, and the TLS
// pair (both or neither, read at once, refused when gRPC is off), with usage errors that name the flag.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { grpcFlags, parseGrpcPort } from '../../src/cli/serve.js';

t.test('--grpc-port takes a port, 0 or off', async (t) => {
  t.equal(parseGrpcPort('8001'), 8001);
  t.equal(parseGrpcPort('0'), 0);
  t.equal(parseGrpcPort('off'), 'off', 'not null: commander turns a null from a parser into an empty string');
  t.throws(() => parseGrpcPort('eight'), { code: 'PARM_ERR_CLI_USAGE', message: "--grpc-port must be an integer in [0, 65535], got 'eight'" });
  t.throws(() => parseGrpcPort('70000'), { code: 'PARM_ERR_CLI_USAGE' });
});

t.test('the gRPC front: 8001 by default, none with off or --no-grpc', async (t) => {
  t.same(grpcFlags({ grpc: true }), { grpcPort: 8001 });
  t.same(grpcFlags({ grpc: true, grpcPort: 0 }), { grpcPort: 0 });
  t.same(grpcFlags({ grpc: true, grpcPort: 'off' }), {});
  t.same(grpcFlags({ grpc: false }), {});
});

t.test('TLS: both files or neither, read at once, only with gRPC on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parm-grpc-flags-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  writeFileSync(cert, 'CERT');
  writeFileSync(key, 'KEY');
  const on = grpcFlags({ grpc: true, grpcTlsCert: cert, grpcTlsKey: key });
  t.equal(on.grpcPort, 8001);
  t.same([on.grpcTls?.cert.toString(), on.grpcTls?.key.toString()], ['CERT', 'KEY']);
  t.throws(() => grpcFlags({ grpc: true, grpcTlsCert: cert }), { message: '--grpc-tls-cert and --grpc-tls-key go together' });
  t.throws(() => grpcFlags({ grpc: true, grpcTlsKey: key }), { message: '--grpc-tls-cert and --grpc-tls-key go together' });
  t.throws(() => grpcFlags({ grpc: true, grpcTlsCert: join(dir, 'none.pem'), grpcTlsKey: key }), { code: 'PARM_ERR_CLI_USAGE', message: /^--grpc-tls-cert .*none\.pem: ENOENT/ });
  t.throws(() => grpcFlags({ grpc: true, grpcPort: 'off', grpcTlsCert: cert, grpcTlsKey: key }), { message: /need the gRPC port/ });
  t.throws(() => grpcFlags({ grpc: false, grpcTlsCert: cert, grpcTlsKey: key }), { message: /need the gRPC port/ });
});
