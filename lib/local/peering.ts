// The local stand-in for the network link a user builds between two regions (peering, a transit
// gateway): a TCP relay that listens in the standby's client namespace and connects from the
// primary's, so the standby's nodes reach the primary's writer endpoint. The two local clusters
// use the same addresses, so no route could join them; a relay whose listening socket was made in
// one namespace before it entered the other (setns) can. TLS passes through it untouched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDetached, type ProcessRecord } from './processes';

/** The port the standby's client namespace offers the primary's writer endpoint on. */
export const PEERING_PORT = 5440;

const RELAY_PY = String.raw`import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000
listen_address, listen_port, netns, target_address, target_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
server = socket.create_server((listen_address, listen_port))
# From here on this thread, and every thread it starts, is in the primary's network namespace; the
# listening socket, made before, stays in the standby's.
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(netns, os.O_RDONLY)
if libc.setns(fd, CLONE_NEWNET) != 0:
    sys.exit('peering: setns %s failed: %s' % (netns, os.strerror(ctypes.get_errno())))
os.close(fd)
print('peering: %s:%d -> %s %s:%d' % (listen_address, listen_port, netns, target_address, target_port), flush=True)


def pipe(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    for s in (source, sink):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def relay(client):
    try:
        upstream = socket.create_connection((target_address, target_port), timeout=5)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    pipe(client, upstream)


while True:
    connection, _ = server.accept()
    threading.Thread(target=relay, args=(connection,), daemon=True).start()
`;

export interface PeeringOptions {
  /** The standby's client namespace and address, where the relay listens. */
  readonly namespace: string;
  readonly address: string;
  /** The primary's client namespace, and its writer endpoint there. */
  readonly primaryNamespace: string;
  readonly primaryAddress: string;
  readonly primaryPort: number;
  /** Where the program and its output go. */
  readonly dir: string;
}

/** Starts the relay; it runs until the standby's namespaces are torn down. */
export async function startPeering(options: PeeringOptions): Promise<ProcessRecord> {
  fs.mkdirSync(options.dir, { recursive: true, mode: 0o755 });
  const program = path.join(options.dir, 'peering.py');
  fs.writeFileSync(program, RELAY_PY, { mode: 0o644 });
  return startDetached({
    namespace: options.namespace,
    argv: ['python3', '-I', program, options.address, String(PEERING_PORT), `/run/netns/${options.primaryNamespace}`, options.primaryAddress, String(options.primaryPort)],
    logFile: path.join(options.dir, 'peering.out'),
  });
}
