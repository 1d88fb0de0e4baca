#!/usr/bin/env python3
"""
The test bed's delay switch: an Ethernet switch in userspace that holds every frame for a fixed
time before it passes it on, so that every link between the bed's hosts gets the same one-way
delay (RabbitMQ's Erlang distribution, ZooKeeper's quorum links, stream replication: all of it,
whatever the port). The kernel here has no netem, so the delay cannot come from tc.

Run inside the bed's bridge namespace by harness/hosts/delay-switch.ts:

    python3 delay-switch.py --delay-ms 20 h-users h-rides h-db

It opens an AF_PACKET socket on each host's bridge-side veth port and prints "ready" once all
are bound; the owner then takes the ports out of br0, and from then on this process is the only
way between the hosts. For each frame that comes in on a port it learns the source MAC's port,
and when the frame is due it sends it out of the destination MAC's port, or out of every other
port for a broadcast, a multicast or a MAC not yet seen. The delay is the same for every frame,
so frames are due in the order they came: one FIFO queue is the schedule, and the wait until its
head is due is the select timeout (precision well within a millisecond on an idle core).

Segmentation and checksum offloads: a host's TCP hands its veth 64 KiB segments with the
checksum left to the hardware, and the port passes them on like that. Such a frame cannot be
sent again as a plain frame (too big, checksum unfilled). With PACKET_VNET_HDR every frame comes
with a virtio-net header that says how it is to be segmented and where its checksum goes, and a
frame sent with the same header is rebuilt as the same kind of packet: the hosts keep their
offloads and TCP its throughput, and nothing of the hosts' interfaces is changed.

Stopping: end of standard input (the owner closed it, or died) or SIGTERM. It stops reading,
sends what it holds when each frame is due (so turning the delay off loses nothing that was in
flight: the owner puts the ports back into br0 first), prints one line of counts and exits.

Standard library only: Debian's python3 is all the bed needs for it.
"""

import argparse
import collections
import os
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
# struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.
VNET_HDR_LEN = 10
ETH_HEADER_LEN = 14
# A GSO frame is at most 64 KiB of IP plus its headers; room to spare for the virtio-net header.
FRAME_BUFFER = 256 * 1024
SOCKET_BUFFER = 16 * 1024 * 1024
# Frames read from one port before the others get a turn, so that none starves the queue.
BATCH = 64


class Port:
    def __init__(self, name):
        self.name = name
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        # Root may go past rmem_max: 50 ms of a fast TCP stream must fit while this process sleeps.
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER)
        self.sock.bind((name, ETH_P_ALL))
        self.sock.setblocking(False)


def parse_args():
    parser = argparse.ArgumentParser(description='a switch that delays every frame between its ports')
    parser.add_argument('--delay-ms', type=float, required=True, help='one-way delay of every frame')
    parser.add_argument('ports', nargs='+', help='the bridge-side veth ends of the hosts')
    args = parser.parse_args()
    if not 0 <= args.delay_ms <= 10_000:
        parser.error('--delay-ms goes from 0 to 10000')
    return args


def main():
    args = parse_args()
    delay = args.delay_ms / 1000.0
    ports = [Port(name) for name in args.ports]
    by_fd = {port.sock.fileno(): port for port in ports}
    stdin_fd = sys.stdin.fileno()
    mac_port = {}
    queue = collections.deque()
    counts = {'received': 0, 'sent': 0, 'send_errors': 0, 'oversized': 0}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # select is retried after a signal (PEP 475): a byte on this pipe is what wakes it to stop.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    sys.stdout.write('ready\n')
    sys.stdout.flush()

    def receive(port):
        for _ in range(BATCH):
            try:
                data, address = port.sock.recvfrom(FRAME_BUFFER)
            except BlockingIOError:
                return
            # A frame going out of the port (sent here, or by br0 while the port was still in it)
            # is not one arriving from the host.
            if address[2] == socket.PACKET_OUTGOING:
                continue
            if len(data) < VNET_HDR_LEN + ETH_HEADER_LEN:
                continue
            if len(data) >= FRAME_BUFFER:
                counts['oversized'] += 1
                continue
            counts['received'] += 1
            source = data[VNET_HDR_LEN + 6:VNET_HDR_LEN + 12]
            # A multicast source is not a station; learn unicast ones only.
            if not source[0] & 1:
                mac_port[source] = port
            queue.append((time.monotonic() + delay, port, data))

    def forward(ingress, data):
        destination = data[VNET_HDR_LEN:VNET_HDR_LEN + 6]
        known = None if destination[0] & 1 else mac_port.get(destination)
        targets = [known] if known is not None else [port for port in ports if port is not ingress]
        for port in targets:
            if port is ingress:
                continue
            try:
                port.sock.send(data)
                counts['sent'] += 1
            except OSError:
                # A full peer queue or a port gone: a lost frame, as on a real switch.
                counts['send_errors'] += 1

    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, ingress, data = queue.popleft()
            forward(ingress, data)
        if stopping and not queue:
            break
        timeout = max(0.0, queue[0][0] - now) if queue else None
        readable = [] if stopping else [stdin_fd, wake_read, *by_fd]
        try:
            ready, _, _ = select.select(readable, [], [], timeout)
        except InterruptedError:
            continue
        for fd in ready:
            if fd == stdin_fd:
                # Only the end of input means anything: the owner is done with the delay, or gone.
                if not os.read(stdin_fd, 4096):
                    stopping = True
            elif fd == wake_read:
                os.read(wake_read, 4096)
            else:
                receive(by_fd[fd])

    sys.stdout.write('stopped received {received} sent {sent} send-errors {send_errors} oversized {oversized}\n'.format(**counts))
    sys.stdout.flush()


if __name__ == '__main__':
    main()
