/*
 * tcp_connect_client: the load generator for the cluster benchmark (short connections).
 *
 * Theory of operation
 * -------------------
 * One thread, one epoll set, non-blocking sockets. Keeps --conns connections in
 * flight; each connects, reads until the server closes (the server writes a short
 * greeting and ends), then closes its side and a new connection takes its place.
 * Connections completed during the --duration seconds after a --warmup are counted;
 * a connection that fails (refused, reset, closed before any byte) is counted as an
 * error. The server closes first, so TIME_WAIT stays on its side, not in the client's
 * port range. With --send B, each connection first sends a B-byte request (once the
 * connect completes) and the server is expected to answer it and close (a short
 * request/response connection); without it the client only reads.
 *
 *   --port P --conns N --duration D [--warmup W] [--send B]
 *   -> {"mode":"connect","conns":..,"errors":..,"seconds":..,"rate":..,"cpu":..}
 *
 * "cpu" is this process's user+system CPU time over the measured interval divided by
 * its wall time (1.0 = one core busy). Exit status: 0 on success, 2 on a usage error,
 * 1 when no connection at all completed. Linux only (epoll).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static struct sockaddr_in addr;
static int ep;
static long got_bytes[65536];
static unsigned char sent[65536];
static int send_size = 0;
static char request[4096];

static int open_one(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
    if (send_size > 0) ev.events |= EPOLLOUT; /* send the request once connected */
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (fd < 65536) {
        got_bytes[fd] = 0;
        sent[fd] = 0;
    }
    return fd;
}

int main(int argc, char **argv) {
    int port = 0, conns = 50;
    double duration = 2.0, warmup = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc) conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc) duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atof(argv[++i]);
        else if (!strcmp(argv[i], "--send") && i + 1 < argc) send_size = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s --port P [--conns N] [--duration D] [--warmup W] [--send B]\n",
                    argv[0]);
            return 2;
        }
    }
    if (port <= 0) {
        fprintf(stderr, "--port is required\n");
        return 2;
    }
    if (send_size < 0 || send_size > (int)sizeof request) {
        fprintf(stderr, "--send must be 0..%d\n", (int)sizeof request);
        return 2;
    }
    memset(request, 'x', sizeof request);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    alarm((unsigned)(warmup + duration + 60));
    ep = epoll_create1(EPOLL_CLOEXEC);
    int open_now = 0;
    for (int i = 0; i < conns; i++)
        if (open_one() >= 0) open_now++;
    double t0 = now(), start = t0 + warmup, end = start + duration, cpu0 = 0;
    int measuring = 0;
    long done = 0, errors = 0;
    struct epoll_event events[256];
    char buf[4096];
    for (;;) {
        double t = now();
        if (!measuring && t >= start) {
            measuring = 1;
            cpu0 = cpu();
            done = errors = 0;
        }
        if (t >= end) break;
        int n = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            ssize_t r;
            int finished = 0, failed = 0;
            if (send_size > 0 && fd < 65536 && !sent[fd] && (events[i].events & EPOLLOUT)) {
                /* connected: send the whole request (it fits the socket buffer), then
                   wait for the answer only */
                sent[fd] = 1;
                if (write(fd, request, send_size) != send_size) {
                    finished = failed = 1;
                } else {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                }
            }
            for (; !finished;) {
                r = read(fd, buf, sizeof buf);
                if (r > 0) {
                    if (fd < 65536) got_bytes[fd] += r;
                    continue;
                }
                if (r == 0) {
                    finished = 1;
                    if (fd < 65536 && got_bytes[fd] == 0) failed = 1;
                } else if (errno != EAGAIN) {
                    finished = failed = 1;
                }
                break;
            }
            if (!finished) continue;
            epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
            close(fd);
            if (failed) errors++;
            else done++;
            if (open_one() < 0) errors++;
        }
    }
    double wall = now() - start, used = cpu() - cpu0;
    (void)open_now;
    printf("{\"mode\":\"connect\",\"conns\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rate\":%.1f,"
           "\"cpu\":%.3f}\n",
           done, errors, wall, done / wall, used / wall);
    return done > 0 ? 0 : 1;
}
