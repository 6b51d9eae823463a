/*
 * udp_echo_client: the load generator for nodish's UDP echo benchmark.
 *
 * Theory of operation
 * -------------------
 * One connected UDP socket keeps --window datagrams of --size bytes in flight to the
 * echo server: every echo received lets one new datagram go, so the rate settles at
 * what the server can turn around, and the server's receive buffer never overflows
 * (a window of small datagrams fits in it many times over). Datagrams are received
 * with recvmmsg and sent with sendmmsg, in batches, so the client spends far less
 * CPU per datagram than any server under test and the figure is the server's.
 *
 * Echoes received during the --duration seconds after a --warmup are counted. If the
 * server drops datagrams anyway (nothing arrives for 200 ms), the missing window is
 * counted in "lost" and sent again, so one drop does not stall the run; a server that
 * answers nothing for 10 s fails it.
 *
 * Output, one JSON object on stdout:
 *   {"mode":"udp_echo","echoes":..,"seconds":..,"rate":..,"lost":..,"cpu":..}
 * "cpu" is this process's user+system CPU time over the measured interval divided by
 * its wall time (1.0 = one core busy): near 1.0 would mean the client was the limit.
 *
 * Usage: udp_echo_client --port P [--host 127.0.0.1] [--window 64] [--size 64]
 *                        [--duration 2] [--warmup 0.5]
 * Exit status: 0 on success, 2 on a usage error, 1 on a socket error. Linux only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_SIZE 65507
#define QUIET_MS 200
#define STALL_SECONDS 10.0

static void die(const char *what) {
    fprintf(stderr, "udp_echo_client: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(void) {
    fprintf(stderr,
            "usage: udp_echo_client --port P [--host 127.0.0.1] [--window 64] [--size 64]\n"
            "                       [--duration 2] [--warmup 0.5]\n");
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

static char out_buf[BATCH][MAX_SIZE > 2048 ? 2048 : MAX_SIZE];
static char in_buf[BATCH][MAX_SIZE > 2048 ? 2048 : MAX_SIZE];

/* Send `count` datagrams; returns how many the kernel took (the rest are owed). */
static int send_batch(int fd, int count, size_t size) {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    int sent = 0;
    while (sent < count) {
        int n = count - sent > BATCH ? BATCH : count - sent;
        memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)n);
        for (int i = 0; i < n; i++) {
            iov[i].iov_base = out_buf[i];
            iov[i].iov_len = size;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            die("sendmmsg");
        }
        sent += r;
        if (r < n) break;
    }
    return sent;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0, window = 64;
    size_t size = 64;
    double duration = 2.0, warmup = 0.5;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (!strcmp(argv[i], "--port")) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--host")) host = argv[++i];
        else if (!strcmp(argv[i], "--window")) window = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size")) size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--duration")) duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atof(argv[++i]);
        else usage();
    }
    if (port <= 0 || port > 65535 || window <= 0 || size < 8 || size > sizeof out_buf[0])
        usage();

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) usage();
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    /* Connected: send() needs no address and only the server's datagrams come in. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    for (int i = 0; i < BATCH; i++) memset(out_buf[i], 'a' + i % 26, sizeof out_buf[i]);

    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");

    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = in_buf[i];
        iov[i].iov_len = sizeof in_buf[i];
    }

    long long echoes = 0, lost = 0;
    int inflight = 0, owed = window;
    double t0 = now(), measure_from = t0 + warmup, end = measure_from + duration;
    double cpu0 = 0.0, last_progress = t0;
    int measuring = 0;

    for (;;) {
        if (owed > 0) {
            int s = send_batch(fd, owed, size);
            owed -= s;
            inflight += s;
        }
        double t = now();
        if (!measuring && t >= measure_from) {
            measuring = 1;
            echoes = 0;
            lost = 0;
            cpu0 = cpu_seconds();
            measure_from = t;
            end = t + duration;
        }
        if (measuring && t >= end) break;
        struct epoll_event out;
        int n = epoll_wait(ep, &out, 1, QUIET_MS);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (n == 0) {
            if (now() - last_progress > STALL_SECONDS) {
                fprintf(stderr, "udp_echo_client: no echo for %.0f s (server stalled)\n",
                        STALL_SECONDS);
                return 1;
            }
            /* the window was dropped somewhere: count it and send it again */
            lost += inflight;
            owed += inflight;
            inflight = 0;
            continue;
        }
        for (;;) {
            for (int i = 0; i < BATCH; i++) {
                memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int r = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == EINTR) continue;
                die("recvmmsg");
            }
            for (int i = 0; i < r; i++) {
                if (msgs[i].msg_len != size) {
                    fprintf(stderr, "udp_echo_client: echo of %u bytes, sent %zu\n",
                            msgs[i].msg_len, size);
                    return 1;
                }
            }
            last_progress = now();
            if (measuring) echoes += r;
            /* an echo of a window already counted as lost does not widen the window */
            int fresh = r <= inflight ? r : inflight;
            inflight -= fresh;
            owed += fresh;
            if (r < BATCH) break;
        }
    }
    double seconds = now() - measure_from;
    double cpu = (cpu_seconds() - cpu0) / seconds;
    printf("{\"mode\":\"udp_echo\",\"echoes\":%lld,\"seconds\":%.6f,\"rate\":%.1f,"
           "\"lost\":%lld,\"cpu\":%.3f}\n",
           echoes, seconds, (double)echoes / seconds, lost, cpu);
    close(ep);
    close(fd);
    return 0;
}
