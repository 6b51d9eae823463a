/*
 * tcp_echo_client: the load generator for nodish's TCP benchmarks.
 *
 * Theory of operation
 * -------------------
 * One thread, one epoll set, non-blocking sockets, nothing allocated on the hot path,
 * so that the client costs far less CPU per round trip than any server under test and
 * the figure measured is the server's. The same binary drives every server (Node's
 * `net`, nodish, a bare uvloop Protocol), so they all see exactly the same load.
 *
 * Three modes, each printing one JSON object on stdout when done:
 *
 *   ping-pong (default)  --conns N --size S --duration D [--warmup W]
 *       N connections; each sends an S-byte message and waits for the whole S-byte
 *       echo (checked byte for byte) before sending the next. Round trips completed
 *       during the D seconds after a W-second warm-up are counted.
 *       -> {"mode":"pingpong","round_trips":..,"seconds":..,"rate":..,"cpu":..}
 *
 *   --throughput --bytes B [--chunk C]
 *       One connection sends B bytes as fast as the server takes them and reads the
 *       echo back at the same time; the clock stops when the last echoed byte arrives.
 *       -> {"mode":"throughput","bytes":..,"seconds":..,"mb_per_s":..,"cpu":..}
 *
 *   --hold N [--window K]
 *       Opens N connections, at most K in flight at once (so the server's accept
 *       backlog never overflows), sends one byte on each and waits for its echo, so the
 *       server has fully set up every connection. Prints {"mode":"hold","held":N,..},
 *       then keeps every connection open and idle until stdin reaches EOF.
 *
 * "cpu" is this process's own user+system CPU time over the measured interval divided
 * by its wall time (1.0 = one core busy): near 1.0 means the client, not the server,
 * was the bottleneck. A server that makes no progress for 10 s fails the run, and an
 * alarm ends the process if anything else hangs.
 *
 * Exit status: 0 on success, 2 on a usage error, 1 on any socket error (a message on
 * stderr). Linux only (epoll).
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

struct conn {
    int fd;
    size_t got;      /* bytes of the current echo received (ping-pong) */
    int state;       /* hold mode: 0 connecting, 1 waiting for echo, 2 done */
};

static const char *host = "127.0.0.1";
static int port = 0;

static void die(const char *what) {
    fprintf(stderr, "tcp_echo_client: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A server that stops answering fails the run quickly instead of at the alarm. */
#define STALL_SECONDS 10.0

static void stalled(const char *mode, double since) {
    fprintf(stderr, "tcp_echo_client: %s: no progress for %.0f s (server stalled)\n", mode, since);
    exit(1);
}

static void usage(void) {
    fprintf(stderr,
            "usage: tcp_echo_client --port P [--host 127.0.0.1]\n"
            "         [--conns 64] [--size 64] [--duration 2] [--warmup 0.5]\n"
            "       tcp_echo_client --port P --throughput [--bytes N] [--chunk 65536]\n"
            "       tcp_echo_client --port P --hold N [--window 256]\n");
    exit(2);
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
    /* 10,000 held connections need 10,000 descriptors: take the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static struct sockaddr_in server_addr(void) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "tcp_echo_client: bad IPv4 address %s\n", host);
        exit(2);
    }
    return sa;
}

static int open_socket(int blocking_connect) {
    struct sockaddr_in sa = server_addr();
    int fd = socket(AF_INET, SOCK_STREAM | (blocking_connect ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0) die("socket");
    int one = 1;
    /* Small messages must leave at once: no Nagle delay on the client side. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        die("connect");
    if (blocking_connect) {
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    return fd;
}

static void epoll_add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void epoll_mod(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl");
}

/*
 * Close like a polite peer: send FIN, then read (and drop) whatever is still in flight
 * until the server's FIN. Closing a socket with unread data would send RST instead,
 * and a server written like Node's example (no 'error' listener) would then report
 * ECONNRESET: the run must not end with an error that the load itself caused.
 * Sockets are read from the caller's epoll set `ep` when given (-1: a fresh one).
 */
static void close_gracefully(struct conn *conns, int nconns, int ep) {
    if (ep < 0) {
        ep = epoll_create1(0);
        if (ep < 0) die("epoll_create1");
        for (int i = 0; i < nconns; i++) epoll_add(ep, conns[i].fd, EPOLLIN, (uint64_t)i);
    }
    for (int i = 0; i < nconns; i++) {
        shutdown(conns[i].fd, SHUT_WR);
        conns[i].state = 0;
    }
    int open = nconns;
    char buf[65536];
    struct epoll_event events[MAX_EVENTS];
    double last_progress = now();
    while (open > 0) {
        int n = epoll_wait(ep, events, MAX_EVENTS, 1000);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (n == 0 && now() - last_progress > STALL_SECONDS) stalled("close", now() - last_progress);
        if (n > 0) last_progress = now();
        for (int k = 0; k < n; k++) {
            struct conn *c = &conns[events[k].data.u64];
            if (c->state == 3) continue;
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) continue;
            /* EOF, or an error: this connection is over either way */
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->state = 3;
            open--;
        }
    }
    close(ep);
}

static int run_pingpong(int nconns, size_t size, double duration, double warmup) {
    char *msg = malloc(size);
    char *buf = malloc(size);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!msg || !buf || !conns) die("malloc");
    for (size_t i = 0; i < size; i++) msg[i] = (char)('a' + i % 26);

    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = open_socket(1);
        epoll_add(ep, conns[i].fd, EPOLLIN, (uint64_t)i);
    }
    for (int i = 0; i < nconns; i++)
        if (write(conns[i].fd, msg, size) != (ssize_t)size) die("write");

    struct epoll_event events[MAX_EVENTS];
    double start = now();
    double measure_from = start + warmup;
    double end = measure_from + duration;
    int measuring = warmup <= 0;
    double cpu0 = cpu_seconds(), t0 = start;
    uint64_t count = 0;
    double last_progress = start;
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, 100);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = &conns[events[k].data.u64];
            ssize_t r = read(c->fd, buf + c->got, size - c->got);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (r == 0) errno = ECONNRESET;
                die("read");
            }
            c->got += (size_t)r;
            if (c->got < size) continue;
            if (memcmp(buf, msg, size) != 0) {
                fprintf(stderr, "tcp_echo_client: echo does not match what was sent\n");
                exit(1);
            }
            c->got = 0;
            count += measuring;
            /* An empty socket buffer always takes a small message whole. */
            if (write(c->fd, msg, size) != (ssize_t)size) die("write");
        }
        double t = now();
        if (n > 0)
            last_progress = t;
        else if (t - last_progress > STALL_SECONDS)
            stalled("ping-pong", t - last_progress);
        if (!measuring && t >= measure_from) {
            measuring = 1;
            count = 0;
            cpu0 = cpu_seconds();
            t0 = t;
        }
        if (measuring && t >= end) {
            double secs = t - t0;
            if (count == 0) stalled("ping-pong", secs);
            double cpu = (cpu_seconds() - cpu0) / secs;
            printf("{\"mode\":\"pingpong\",\"conns\":%d,\"size\":%zu,\"round_trips\":%llu,"
                   "\"seconds\":%.6f,\"rate\":%.1f,\"cpu\":%.4f}\n",
                   nconns, size, (unsigned long long)count, secs, (double)count / secs, cpu);
            fflush(stdout);
            close_gracefully(conns, nconns, ep);
            return 0;
        }
    }
}

static int run_throughput(uint64_t total, size_t chunk) {
    char *out = malloc(chunk);
    char *in = malloc(chunk);
    if (!out || !in) die("malloc");
    memset(out, 'x', chunk);
    int fd = open_socket(1);
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    epoll_add(ep, fd, EPOLLIN | EPOLLOUT, 0);
    uint64_t sent = 0, received = 0;
    int want_out = 1;
    struct epoll_event events[4];
    double t0 = now(), cpu0 = cpu_seconds(), last_progress = t0;
    while (received < total) {
        int n = epoll_wait(ep, events, 4, 1000);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (n == 0) {
            if (now() - last_progress > STALL_SECONDS) stalled("throughput", now() - last_progress);
            continue;
        }
        last_progress = now();
        uint32_t ev = events[0].events;
        if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            for (;;) {
                ssize_t r = read(fd, in, chunk);
                if (r > 0) {
                    received += (uint64_t)r;
                    continue;
                }
                if (r < 0 && errno == EAGAIN) break;
                if (r < 0 && errno == EINTR) continue;
                if (r == 0) errno = ECONNRESET;
                die("read");
            }
        }
        if ((ev & EPOLLOUT) && sent < total) {
            for (;;) {
                size_t len = chunk;
                if (total - sent < len) len = (size_t)(total - sent);
                ssize_t w = write(fd, out, len);
                if (w > 0) {
                    sent += (uint64_t)w;
                    if (sent == total) break;
                    continue;
                }
                if (w < 0 && errno == EAGAIN) break;
                if (w < 0 && errno == EINTR) continue;
                die("write");
            }
            if (sent == total && want_out) {
                want_out = 0;
                epoll_mod(ep, fd, EPOLLIN, 0);
            }
        }
    }
    double secs = now() - t0;
    double cpu = (cpu_seconds() - cpu0) / secs;
    printf("{\"mode\":\"throughput\",\"bytes\":%llu,\"seconds\":%.6f,\"mb_per_s\":%.2f,"
           "\"cpu\":%.4f}\n",
           (unsigned long long)total, secs, (double)total / 1e6 / secs, cpu);
    fflush(stdout);
    close(ep);
    struct conn one = {.fd = fd};
    close_gracefully(&one, 1, -1);
    return 0;
}

static int run_hold(int nconns, int window) {
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) die("malloc");
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct epoll_event events[MAX_EVENTS];
    int opened = 0, done = 0, inflight = 0;
    double t0 = now(), last_progress = t0;
    char byte = 'h';
    while (done < nconns) {
        while (opened < nconns && inflight < window) {
            conns[opened].fd = open_socket(0);
            epoll_add(ep, conns[opened].fd, EPOLLOUT, (uint64_t)opened);
            opened++;
            inflight++;
        }
        int n = epoll_wait(ep, events, MAX_EVENTS, 1000);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (n > 0)
            last_progress = now();
        else if (now() - last_progress > STALL_SECONDS)
            stalled("hold", now() - last_progress);
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
                if (write(c->fd, &byte, 1) != 1) die("write");
                c->state = 1;
                epoll_mod(ep, c->fd, EPOLLIN, (uint64_t)i);
            } else if (c->state == 1 && (events[k].events & EPOLLIN)) {
                char b;
                ssize_t r = read(c->fd, &b, 1);
                if (r < 0 && errno == EAGAIN) continue;
                if (r <= 0) {
                    if (r == 0) errno = ECONNRESET;
                    die("read");
                }
                c->state = 2;
                /* Idle from now on: no events wanted while held. */
                if (epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL) < 0) die("epoll_ctl");
                done++;
                inflight--;
            }
        }
    }
    printf("{\"mode\":\"hold\",\"held\":%d,\"seconds\":%.6f}\n", nconns, now() - t0);
    fflush(stdout);
    alarm(0);
    /* Hold until the harness has read the server's memory and closes our stdin. */
    char sink[64];
    while (read(0, sink, sizeof sink) > 0) {
    }
    close_gracefully(conns, nconns, -1);
    return 0;
}

static double arg_double(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || v < 0) usage();
    return v;
}

static long long arg_int(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || v <= 0) usage();
    return v;
}

int main(int argc, char **argv) {
    int nconns = 64, hold = 0, window = 256, throughput = 0;
    size_t size = 64, chunk = 65536;
    double duration = 2.0, warmup = 0.5;
    uint64_t total = 1ULL << 30;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--throughput") == 0) {
            throughput = 1;
            continue;
        }
        if (v == NULL) usage();
        i++;
        if (strcmp(a, "--port") == 0) port = (int)arg_int(v);
        else if (strcmp(a, "--host") == 0) host = v;
        else if (strcmp(a, "--conns") == 0) nconns = (int)arg_int(v);
        else if (strcmp(a, "--size") == 0) size = (size_t)arg_int(v);
        else if (strcmp(a, "--duration") == 0) duration = arg_double(v);
        else if (strcmp(a, "--warmup") == 0) warmup = arg_double(v);
        else if (strcmp(a, "--bytes") == 0) total = (uint64_t)arg_int(v);
        else if (strcmp(a, "--chunk") == 0) chunk = (size_t)arg_int(v);
        else if (strcmp(a, "--hold") == 0) hold = (int)arg_int(v);
        else if (strcmp(a, "--window") == 0) window = (int)arg_int(v);
        else usage();
    }
    if (port <= 0 || port > 65535) usage();
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (hold) {
        /* Only the setup is bounded: the holding phase ends when stdin closes, which
         * also happens if the harness dies. */
        alarm(120);
        return run_hold(hold, window);
    }
    alarm((unsigned)(duration + warmup) + 120);
    if (throughput) return run_throughput(total, chunk);
    return run_pingpong(nconns, size, duration, warmup);
}
