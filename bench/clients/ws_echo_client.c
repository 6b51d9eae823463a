/*
 * ws_echo_client: the load generator for nodish's WebSocket benchmarks.
 *
 * Theory of operation
 * -------------------
 * One thread, one epoll set, non-blocking sockets, frames built once before the run:
 * the client costs far less CPU per message than any server under test, and the same
 * binary drives every server (Node's `ws`, nodish, websockets, aiohttp).
 *
 * Every connection first does the opening handshake (RFC 6455 4.1, a fixed key; the
 * 101 answer is checked for its status only). Then, one JSON object on stdout:
 *
 *   ping-pong (default)  --conns N --size S [--binary] --duration D [--warmup W]
 *       N connections; each sends one masked S-byte message (text unless --binary) and
 *       waits for the whole echoed frame (payload checked byte for byte) before
 *       sending the next. Messages echoed during D seconds after W seconds of warm-up.
 *       -> {"mode":"pingpong","messages":..,"seconds":..,"rate":..,"mb_per_s":..,"cpu":..}
 *       (mb_per_s counts the payload once per round trip)
 *
 *   --socketio  (with ping-pong)
 *       Each connection is a Socket.IO client of the main namespace over WebSocket
 *       (path /socket.io/?EIO=4&transport=websocket): it reads the Engine.IO OPEN
 *       packet, sends CONNECT ("40") and reads the server's CONNECT. Each message is
 *       then an event with an ack, 42<id>["echo","<S bytes>"], and the answer waited
 *       for is the ack 43<id>["<S bytes>"] (checked byte for byte): the echo-with-ack
 *       round trip of the official client, at a fraction of its CPU. The server's
 *       heartbeat is not answered: runs must end within its ping interval (25 s).
 *
 *   --hold N [--window K]
 *       N connections, at most K handshaking at once; each sends one 1-byte message
 *       and waits for its echo, then stays idle. Prints {"mode":"hold","held":N,..}
 *       and holds until stdin reaches EOF.
 *
 * "cpu" is this process's user+system CPU time over the measured interval divided by
 * its wall time (1.0 = one core busy). Exit status 0 on success, 2 on a usage error,
 * 1 on any failure (a message on stderr). Linux only (epoll).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define STALL_SECONDS 10.0

struct conn {
    int fd;
    int state;      /* hold: 0 connecting, 1 reading the 101, 2 waiting for echo, 3 idle */
    size_t got;     /* bytes of the current echo (or response head) received */
};

static const char *host = "127.0.0.1";
static int port = 0;
static const char *path = NULL;
static int socketio = 0;
static char request[512];
static size_t request_len;

static void die(const char *what) {
    fprintf(stderr, "ws_echo_client: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *what) {
    fprintf(stderr, "ws_echo_client: %s\n", what);
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int open_socket(int blocking) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) fail("bad IPv4 address");
    int fd = socket(AF_INET, SOCK_STREAM | (blocking ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

static void epoll_set(int ep, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(ep, op, fd, &ev) < 0) die("epoll_ctl");
}

/* Feed response bytes; returns 1 once the head's blank line has been seen. */
static int head_done(struct conn *c, const char *buf, size_t n) {
    static const char end[] = "\r\n\r\n";
    for (size_t i = 0; i < n; i++) {
        if (c->got == 0 && i == 0 && n >= 12 && memcmp(buf, "HTTP/1.1 101", 12) != 0)
            fail("server refused the upgrade");
        if (buf[i] == end[c->got % 4 == 0 ? 0 : c->got % 4]) {
            c->got++;
            if (c->got == 4) {
                if (i + 1 != n) fail("server sent data right after the 101");
                return 1;
            }
        } else {
            c->got = buf[i] == '\r' ? 1 : 0;
        }
    }
    return 0;
}

static void handshake_blocking(int fd) {
    if (write(fd, request, request_len) != (ssize_t)request_len) die("write");
    struct conn c = {.fd = fd};
    char buf[1024];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0) {
            if (r == 0) errno = ECONNRESET;
            die("read handshake");
        }
        if (head_done(&c, buf, (size_t)r)) break;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Socket.IO handshake, blocking: the 101's head (read a byte at a time, since the
 * Engine.IO OPEN packet follows it at once), the OPEN frame, our CONNECT, the server's
 * CONNECT. */
static void read_exact(int fd, char *buf, size_t n) {
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) {
            if (r == 0) errno = ECONNRESET;
            die("read handshake");
        }
        got += (size_t)r;
    }
}

static void read_text_frame(int fd, char *payload, size_t cap, char first) {
    unsigned char h[4];
    read_exact(fd, (char *)h, 2);
    size_t len = h[1] & 0x7f;
    if (h[0] != 0x81 || (h[1] & 0x80)) fail("socket.io: expected an unmasked text frame");
    if (len == 126) {
        read_exact(fd, (char *)h + 2, 2);
        len = ((size_t)h[2] << 8) | h[3];
    } else if (len == 127) {
        fail("socket.io: handshake frame too long");
    }
    if (len + 1 > cap) fail("socket.io: handshake frame too long");
    read_exact(fd, payload, len);
    payload[len] = 0;
    if (len == 0 || payload[0] != first) fail("socket.io: unexpected handshake packet");
}

static char *client_frame(const char *payload, size_t size, int binary, size_t *len);

static void handshake_socketio(int fd) {
    if (write(fd, request, request_len) != (ssize_t)request_len) die("write");
    struct conn c = {.fd = fd};
    char b[1024];
    do read_exact(fd, b, 1);
    while (!head_done(&c, b, 1));
    read_text_frame(fd, b, sizeof b, '0');
    size_t flen;
    char *connect = client_frame("40", 2, 0, &flen);
    if (write(fd, connect, flen) != (ssize_t)flen) die("write");
    free(connect);
    read_text_frame(fd, b, sizeof b, '4');
    if (b[1] != '0') fail("socket.io: CONNECT refused");
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A masked client frame carrying `size` bytes of `payload`. */
static char *client_frame(const char *payload, size_t size, int binary, size_t *len) {
    char *f = malloc(size + 14);
    if (!f) die("malloc");
    size_t h = 0;
    f[h++] = (char)(0x80 | (binary ? 2 : 1));
    if (size < 126) {
        f[h++] = (char)(0x80 | size);
    } else if (size < 65536) {
        f[h++] = (char)(0x80 | 126);
        f[h++] = (char)(size >> 8);
        f[h++] = (char)(size & 0xff);
    } else {
        f[h++] = (char)(0x80 | 127);
        for (int i = 7; i >= 0; i--) f[h++] = (char)((uint64_t)size >> (8 * i));
    }
    static const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(f + h, key, 4);
    h += 4;
    for (size_t i = 0; i < size; i++) f[h + i] = (char)(payload[i] ^ key[i % 4]);
    *len = h + size;
    return f;
}

static size_t server_header_len(size_t size) { return size < 126 ? 2 : size < 65536 ? 4 : 10; }

/* Send a close frame (1000) and FIN, read to the server's FIN (an unread socket
 * closed would send RST). */
static void close_gracefully(struct conn *conns, int n) {
    static const unsigned char close_frame[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8};
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < n; i++) {
        epoll_set(ep, EPOLL_CTL_ADD, conns[i].fd, EPOLLIN, (uint64_t)i);
        if (write(conns[i].fd, close_frame, sizeof close_frame) < 0 && errno != EAGAIN)
            die("write close");
        shutdown(conns[i].fd, SHUT_WR);
        conns[i].state = 0;
    }
    int open = n;
    char buf[65536];
    struct epoll_event events[MAX_EVENTS];
    double last = now();
    while (open > 0) {
        int k = epoll_wait(ep, events, MAX_EVENTS, 1000);
        if (k < 0 && errno != EINTR) die("epoll_wait");
        if (k <= 0) {
            if (now() - last > STALL_SECONDS) break; /* the server kept it open: give up */
            continue;
        }
        last = now();
        for (int j = 0; j < k; j++) {
            struct conn *c = &conns[events[j].data.u64];
            if (c->state == 9) continue;
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) continue;
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->state = 9;
            open--;
        }
    }
    close(ep);
}

static int run_pingpong(int nconns, size_t size, int binary, double duration, double warmup) {
    char *payload = calloc(size + 1, 1);
    if (!payload) die("malloc");
    for (size_t i = 0; i < size; i++) payload[i] = (char)('a' + i % 26);
    size_t flen, out_size = size, in_size = size;
    char *out = payload, *in = payload;
    if (socketio) {
        /* an event with ack id 1, and the ack the server answers it with */
        out = malloc(size + 32);
        in = malloc(size + 32);
        if (!out || !in) die("malloc");
        out_size = (size_t)sprintf(out, "421[\"echo\",\"%s\"]", payload);
        in_size = (size_t)sprintf(in, "431[\"%s\"]", payload);
    }
    char *frame = client_frame(out, out_size, binary, &flen);
    size_t hl = server_header_len(in_size), want = hl + in_size;
    char *buf = malloc(want);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!buf || !conns) die("malloc");

    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = open_socket(1);
        if (socketio)
            handshake_socketio(conns[i].fd);
        else
            handshake_blocking(conns[i].fd);
        epoll_set(ep, EPOLL_CTL_ADD, conns[i].fd, EPOLLIN, (uint64_t)i);
    }
    /* a frame bigger than the socket buffer is written in pieces: track each one */
    size_t *sent = calloc((size_t)nconns, sizeof *sent);
    if (!sent) die("malloc");
    for (int i = 0; i < nconns; i++) {
        ssize_t w = write(conns[i].fd, frame, flen);
        if (w < 0) die("write");
        sent[i] = (size_t)w;
        if (sent[i] < flen) epoll_set(ep, EPOLL_CTL_MOD, conns[i].fd, EPOLLIN | EPOLLOUT, (uint64_t)i);
    }
    struct epoll_event events[MAX_EVENTS];
    double start = now(), measure_from = start + warmup, end = measure_from + duration;
    int measuring = warmup <= 0;
    double cpu0 = cpu_seconds(), t0 = start, last = start;
    uint64_t count = 0;
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, 100);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            int i = (int)events[k].data.u64;
            struct conn *c = &conns[i];
            if ((events[k].events & EPOLLOUT) && sent[i] < flen) {
                ssize_t w = write(c->fd, frame + sent[i], flen - sent[i]);
                if (w < 0 && errno != EAGAIN) die("write");
                if (w > 0) sent[i] += (size_t)w;
                if (sent[i] == flen) epoll_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, (uint64_t)i);
            }
            if (!(events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
            for (;;) {
                ssize_t r = read(c->fd, buf + c->got, want - c->got);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN) break;
                    if (r < 0 && errno == EINTR) continue;
                    if (r == 0) errno = ECONNRESET;
                    die("read");
                }
                c->got += (size_t)r;
                if (c->got < want) continue;
                if ((unsigned char)buf[0] != (0x80 | (binary ? 2 : 1)) ||
                    memcmp(buf + hl, in, in_size) != 0)
                    fail("echo does not match what was sent");
                c->got = 0;
                count += measuring;
                ssize_t w = write(c->fd, frame, flen);
                if (w < 0) die("write");
                sent[i] = (size_t)w;
                if (sent[i] < flen)
                    epoll_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLOUT, (uint64_t)i);
                break;
            }
        }
        double t = now();
        if (n > 0)
            last = t;
        else if (t - last > STALL_SECONDS)
            fail("no progress for 10 s (server stalled)");
        if (!measuring && t >= measure_from) {
            measuring = 1;
            count = 0;
            cpu0 = cpu_seconds();
            t0 = t;
        }
        if (measuring && t >= end) {
            double secs = t - t0;
            if (count == 0) fail("no message echoed");
            printf("{\"mode\":\"pingpong\",\"conns\":%d,\"size\":%zu,\"messages\":%llu,"
                   "\"seconds\":%.6f,\"rate\":%.1f,\"mb_per_s\":%.3f,\"cpu\":%.4f}\n",
                   nconns, size, (unsigned long long)count, secs, (double)count / secs,
                   (double)count * (double)size / 1e6 / secs, (cpu_seconds() - cpu0) / secs);
            fflush(stdout);
            close(ep);
            close_gracefully(conns, nconns);
            return 0;
        }
    }
}

static int run_hold(int nconns, int window) {
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) die("malloc");
    size_t flen;
    char *frame = client_frame("h", 1, 0, &flen);
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct epoll_event events[MAX_EVENTS];
    int opened = 0, done = 0, inflight = 0;
    double t0 = now(), last = t0;
    char buf[1024];
    while (done < nconns) {
        while (opened < nconns && inflight < window) {
            conns[opened].fd = open_socket(0);
            epoll_set(ep, EPOLL_CTL_ADD, conns[opened].fd, EPOLLOUT, (uint64_t)opened);
            opened++;
            inflight++;
        }
        int n = epoll_wait(ep, events, MAX_EVENTS, 1000);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (n > 0)
            last = now();
        else if (now() - last > STALL_SECONDS)
            fail("hold: no progress for 10 s");
        for (int k = 0; k < n; k++) {
            int i = (int)events[k].data.u64;
            struct conn *c = &conns[i];
            if (events[k].events & (EPOLLERR | EPOLLHUP)) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                errno = err ? err : ECONNRESET;
                die("connection");
            }
            if (c->state == 0 && (events[k].events & EPOLLOUT)) {
                if (write(c->fd, request, request_len) != (ssize_t)request_len) die("write");
                c->state = 1;
                epoll_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, (uint64_t)i);
            } else if (c->state == 1 && (events[k].events & EPOLLIN)) {
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r < 0 && errno == EAGAIN) continue;
                if (r <= 0) {
                    if (r == 0) errno = ECONNRESET;
                    die("read");
                }
                if (head_done(c, buf, (size_t)r)) {
                    c->state = 2;
                    c->got = 0;
                    if (write(c->fd, frame, flen) != (ssize_t)flen) die("write");
                }
            } else if (c->state == 2 && (events[k].events & EPOLLIN)) {
                ssize_t r = read(c->fd, buf, 3 - c->got);
                if (r < 0 && errno == EAGAIN) continue;
                if (r <= 0) {
                    if (r == 0) errno = ECONNRESET;
                    die("read");
                }
                c->got += (size_t)r;
                if (c->got < 3) continue;
                c->state = 3;
                if (epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL) < 0) die("epoll_ctl");
                done++;
                inflight--;
            }
        }
    }
    printf("{\"mode\":\"hold\",\"held\":%d,\"seconds\":%.6f}\n", nconns, now() - t0);
    fflush(stdout);
    alarm(0);
    char sink[64];
    while (read(0, sink, sizeof sink) > 0) {
    }
    close_gracefully(conns, nconns);
    return 0;
}

int main(int argc, char **argv) {
    int nconns = 64, hold = 0, window = 256, binary = 0;
    size_t size = 32;
    double duration = 2.0, warmup = 0.5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--port") && v) port = atoi(argv[++i]);
        else if (!strcmp(a, "--host") && v) host = argv[++i];
        else if (!strcmp(a, "--path") && v) path = argv[++i];
        else if (!strcmp(a, "--conns") && v) nconns = atoi(argv[++i]);
        else if (!strcmp(a, "--size") && v) size = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--binary")) binary = 1;
        else if (!strcmp(a, "--socketio")) socketio = 1;
        else if (!strcmp(a, "--duration") && v) duration = atof(argv[++i]);
        else if (!strcmp(a, "--warmup") && v) warmup = atof(argv[++i]);
        else if (!strcmp(a, "--hold") && v) hold = atoi(argv[++i]);
        else if (!strcmp(a, "--window") && v) window = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: ws_echo_client --port P [--conns 64] [--size 32] [--binary | --socketio]\n"
                            "         [--duration 2] [--warmup 0.5] | --hold N [--window 256]\n");
            return 2;
        }
    }
    if (port <= 0 || (socketio && (binary || hold))) return 2;
    if (path == NULL) path = socketio ? "/socket.io/?EIO=4&transport=websocket" : "/";
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\n\r\n",
                                   path, host, port);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    alarm(600);
    if (hold) return run_hold(hold, window);
    return run_pingpong(nconns, size, binary, duration, warmup);
}
