/* sk_isolate.c — runs a compile in a forked child so that a compiler crash or hang fails only
 * that compile.
 *
 * Protocol (child -> parent, one pipe per call, native byte order — both ends are this
 * process image):
 *   u32 magic 'SKIR', u64 total length of the whole message (header included),
 *   i32 status, i32 registers, spill_stores, spill_loads, stack_frame, static_smem,
 *   u64 msg length + bytes, u64 cubin length + bytes, u64 log length + bytes (UINT64_MAX: NULL),
 *   u32 end magic 'RIKS'.
 * The parent reads with poll() and a deadline, stops once the whole message is in, and reaps
 * the child with waitpid. Every exit path reaps the child: no zombies. The pipe is made with
 * O_CLOEXEC; while reading, the parent also watches the child with waitpid(WNOHANG), because
 * a child forked at the same time by another thread may hold a copy of this pipe's write end
 * (fork copies every descriptor), so EOF alone cannot be trusted to arrive promptly. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sk_isolate.h"

#define SK_MAGIC 0x52494b53u     /* "SKIR" */
#define SK_END_MAGIC 0x534b4952u /* "RIKS" */
#define SK_NULL_LEN UINT64_MAX
#define SK_DEFAULT_TIMEOUT_MS 120000u

/* ---------------------------------------------------------------------------------------
 * Child side
 * --------------------------------------------------------------------------------------- */

static void put_u32(sk_buf *b, uint32_t v) { sk_buf_put(b, &v, sizeof v); }
static void put_i32(sk_buf *b, int32_t v) { sk_buf_put(b, &v, sizeof v); }
static void put_u64(sk_buf *b, uint64_t v) { sk_buf_put(b, &v, sizeof v); }
static void put_blob(sk_buf *b, const void *p, size_t n, int is_null) {
    put_u64(b, is_null ? SK_NULL_LEN : (uint64_t)n);
    if (!is_null && n) sk_buf_put(b, p, n);
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void child_main(int wfd, sk_isolated_fn fn, void *ctx, unsigned timeout_ms) {
    /* A write to a pipe whose reader is gone must fail with EPIPE, not kill us by SIGPIPE
     * (the parent then reports what it saw). Crash signals get their default action back, so
     * a handler installed by the host application cannot swallow a compiler crash. */
    signal(SIGPIPE, SIG_IGN);
    static const int crash_sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGXCPU, SIGTERM};
    for (size_t i = 0; i < sizeof crash_sigs / sizeof crash_sigs[0]; i++) signal(crash_sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Second guard behind the parent's wall-clock deadline: CPU time a little above it. */
    rlim_t secs = (rlim_t)(timeout_ms / 1000u) + 1 + (rlim_t)(timeout_ms / 10000u);
    struct rlimit rl;
    if (getrlimit(RLIMIT_CPU, &rl) == 0) {
        rlim_t soft = secs, hard = secs + 1;
        if (rl.rlim_max != RLIM_INFINITY && hard > rl.rlim_max) hard = rl.rlim_max;
        if (soft > hard) soft = hard;
        rl.rlim_cur = soft;
        rl.rlim_max = hard;
        setrlimit(RLIMIT_CPU, &rl);
    }

    sk_compile_result r;
    memset(&r, 0, sizeof r);
    r.registers = -1;
    sk_err err;
    sk_err_clear(&err);
    sparsek_status st = fn(ctx, &r, &err);
    if (st != SPARSEK_OK && err.status == SPARSEK_OK && !err.msg[0])
        snprintf(err.msg, sizeof err.msg, "compile job failed with status %d", (int)st);

    sk_buf b = {0};
    put_u32(&b, SK_MAGIC);
    put_u64(&b, 0); /* total length, patched below */
    put_i32(&b, (int32_t)st);
    put_i32(&b, r.registers);
    put_i32(&b, r.spill_stores);
    put_i32(&b, r.spill_loads);
    put_i32(&b, r.stack_frame);
    put_i32(&b, r.static_smem);
    size_t ml = strnlen(err.msg, sizeof err.msg);
    put_blob(&b, err.msg, ml, 0);
    put_blob(&b, r.cubin, r.cubin ? r.cubin_size : 0, r.cubin == NULL);
    put_blob(&b, r.log, r.log ? strlen(r.log) : 0, r.log == NULL);
    put_u32(&b, SK_END_MAGIC);
    if (b.oom) _exit(121);
    uint64_t total = b.len;
    memcpy(b.data + sizeof(uint32_t), &total, sizeof total);
    if (write_all(wfd, b.data, b.len) != 0) _exit(122);
    close(wfd);
    _exit(0); /* no atexit handlers, no stdio flush of the parent's buffers */
}

/* ---------------------------------------------------------------------------------------
 * Parent side
 * --------------------------------------------------------------------------------------- */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Expected total length once the header is in; 0 until then. */
static uint64_t expected_len(const sk_buf *b) {
    if (b->len < sizeof(uint32_t) + sizeof(uint64_t)) return 0;
    uint64_t t;
    memcpy(&t, b->data + sizeof(uint32_t), sizeof t);
    return t;
}

static int message_complete(const sk_buf *b) {
    uint64_t t = expected_len(b);
    return t > 0 && b->len >= t;
}

/* Reads whatever is available without blocking. Returns 1 at EOF, 0 if more may come,
 * -1 on a read error. */
static int drain(int fd, sk_buf *b) {
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            sk_buf_put(b, chunk, (size_t)n);
            if (b->oom) return -1;
            continue;
        }
        if (n == 0) return 1;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}

static pid_t wait_child(pid_t pid, int *wstatus, int options) {
    for (;;) {
        pid_t w = waitpid(pid, wstatus, options);
        if (w < 0 && errno == EINTR) continue;
        return w;
    }
}

/* Parses a complete message into r/err; returns the child's status, or -1 if malformed. */
typedef struct reader {
    const char *p, *end;
    int bad;
} reader;

static void take(reader *rd, void *dst, size_t n) {
    if (rd->bad || (size_t)(rd->end - rd->p) < n) {
        rd->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, rd->p, n);
    rd->p += n;
}

static int take_blob(reader *rd, const char **p, uint64_t *n) {
    uint64_t len;
    take(rd, &len, sizeof len);
    *p = NULL;
    *n = 0;
    if (rd->bad) return -1;
    if (len == SK_NULL_LEN) return 0;
    if (len > (uint64_t)(rd->end - rd->p)) {
        rd->bad = 1;
        return -1;
    }
    *p = rd->p;
    *n = len;
    rd->p += len;
    return 1;
}

static int parse_message(const sk_buf *b, sk_compile_result *r, sk_err *err, sparsek_status *st_out) {
    reader rd = {b->data, b->data + b->len, 0};
    uint32_t magic, end_magic;
    uint64_t total;
    int32_t st, ints[5];
    take(&rd, &magic, sizeof magic);
    take(&rd, &total, sizeof total);
    take(&rd, &st, sizeof st);
    take(&rd, ints, sizeof ints);
    if (rd.bad || magic != SK_MAGIC || total != b->len) return -1;
    const char *msg, *cubin, *log;
    uint64_t msg_n, cubin_n, log_n;
    int has_msg = take_blob(&rd, &msg, &msg_n);
    int has_cubin = take_blob(&rd, &cubin, &cubin_n);
    int has_log = take_blob(&rd, &log, &log_n);
    take(&rd, &end_magic, sizeof end_magic);
    if (rd.bad || end_magic != SK_END_MAGIC || rd.p != rd.end) return -1;
    if (st < 0 || st >= SPARSEK_STATUS_COUNT) return -1;

    if (r) {
        r->registers = ints[0];
        r->spill_stores = ints[1];
        r->spill_loads = ints[2];
        r->stack_frame = ints[3];
        r->static_smem = ints[4];
        if (has_cubin > 0) {
            r->cubin = malloc(cubin_n ? cubin_n : 1);
            if (!r->cubin) return -2;
            if (cubin_n) memcpy(r->cubin, cubin, cubin_n);
            r->cubin_size = cubin_n;
        }
        if (has_log > 0) {
            r->log = sk_strndup(log, log_n);
            if (!r->log) return -2;
        }
    }
    if (err) {
        if (st != SPARSEK_OK) {
            size_t n = has_msg > 0 ? (size_t)msg_n : 0;
            if (n >= sizeof err->msg) n = sizeof err->msg - 1;
            if (n) memcpy(err->msg, msg, n);
            err->msg[n] = 0;
            err->status = (sparsek_status)st;
        }
    }
    *st_out = (sparsek_status)st;
    return 0;
}

static const char *signal_name(int sig, char *buf, size_t n) {
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) snprintf(buf, n, "SIG%s", abbrev);
    else snprintf(buf, n, "%s", strsignal(sig));
    return buf;
}

sparsek_status sk_isolated_run(sk_isolated_fn fn, void *ctx, unsigned timeout_ms,
                               sk_compile_result *r, sk_err *err) {
    if (r) {
        memset(r, 0, sizeof *r);
        r->registers = -1;
    }
    if (!fn || !r)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_isolated_run: %s is NULL", !fn ? "fn" : "result");
    if (timeout_ms == 0) timeout_ms = SK_DEFAULT_TIMEOUT_MS;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return sk_fail(err, SPARSEK_INTERNAL, "cannot create a pipe for the compiler process: %s",
                       strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return sk_fail(err, e == ENOMEM || e == EAGAIN ? SPARSEK_OUT_OF_MEMORY : SPARSEK_INTERNAL,
                       "cannot fork the compiler process: %s", strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], fn, ctx, timeout_ms);
        _exit(120); /* not reached */
    }
    close(fds[1]);
    int rfd = fds[0];
    int fl = fcntl(rfd, F_GETFL);
    if (fl >= 0) fcntl(rfd, F_SETFL, fl | O_NONBLOCK);

    const int64_t deadline = now_ms() + timeout_ms;
    sk_buf b = {0};
    int eof = 0, reaped = 0, timed_out = 0, read_error = 0, wstatus = 0;
    while (!eof && !message_complete(&b)) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        /* Wake at least every 50 ms to see whether the child has gone (see top comment). */
        struct pollfd pfd = {.fd = rfd, .events = POLLIN};
        int pr = poll(&pfd, 1, left < 50 ? (int)left : 50);
        if (pr < 0) {
            if (errno == EINTR) continue;
            read_error = errno;
            break;
        }
        if (pr > 0) {
            int d = drain(rfd, &b);
            if (d < 0) { read_error = b.oom ? ENOMEM : errno; break; }
            if (d > 0) eof = 1;
            continue;
        }
        pid_t w = wait_child(pid, &wstatus, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD)) {
            reaped = (w == pid) ? 1 : -1;
            /* The child wrote everything it will write before it exited. */
            int d = drain(rfd, &b);
            if (d < 0) read_error = b.oom ? ENOMEM : errno;
            break;
        }
    }
    close(rfd);

    if (timed_out && !reaped) {
        kill(pid, SIGKILL);
        if (wait_child(pid, &wstatus, 0) == pid) reaped = 1;
        sk_buf_free(&b);
        return sk_fail(err, SPARSEK_COMPILE_TIMEOUT, "compile exceeded %u ms (compiler process killed)",
                       timeout_ms);
    }
    if (!reaped) {
        /* Message complete or EOF: the child is exiting. A child that closed the pipe but does
         * not exit is killed once the deadline has passed. */
        for (;;) {
            pid_t w = wait_child(pid, &wstatus, WNOHANG);
            if (w == pid) { reaped = 1; break; }
            if (w < 0) { reaped = -1; break; } /* ECHILD: SIGCHLD ignored by the application */
            if (now_ms() >= deadline) {
                kill(pid, SIGKILL);
                reaped = wait_child(pid, &wstatus, 0) == pid ? 1 : -1;
                if (!message_complete(&b)) {
                    sk_buf_free(&b);
                    return sk_fail(err, SPARSEK_COMPILE_TIMEOUT, "compile exceeded %u ms (compiler process killed)",
                                   timeout_ms);
                }
                break;
            }
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }

    char sbuf[64];
    if (reaped == 1 && WIFSIGNALED(wstatus) && !(message_complete(&b) && WTERMSIG(wstatus) == SIGKILL)) {
        int sig = WTERMSIG(wstatus);
        sk_buf_free(&b);
        if (sig == SIGXCPU)
            return sk_fail(err, SPARSEK_COMPILE_TIMEOUT,
                           "compile exceeded its CPU time limit (compiler process killed by signal %d (%s))",
                           sig, signal_name(sig, sbuf, sizeof sbuf));
        return sk_fail(err, SPARSEK_COMPILE_CRASHED, "compiler process killed by signal %d (%s)", sig,
                       signal_name(sig, sbuf, sizeof sbuf));
    }
    if (read_error && !message_complete(&b)) {
        sk_buf_free(&b);
        return sk_fail(err, read_error == ENOMEM ? SPARSEK_OUT_OF_MEMORY : SPARSEK_INTERNAL,
                       "reading the compiler process's result failed: %s", strerror(read_error));
    }
    if (!message_complete(&b)) {
        sk_buf_free(&b);
        if (reaped == 1 && WIFEXITED(wstatus))
            return sk_fail(err, SPARSEK_COMPILE_CRASHED,
                           "compiler process exited with status %d without sending a result",
                           WEXITSTATUS(wstatus));
        return sk_fail(err, SPARSEK_COMPILE_CRASHED, "compiler process ended without sending a result");
    }
    sparsek_status st = SPARSEK_OK;
    int pr = parse_message(&b, r, err, &st);
    sk_buf_free(&b);
    if (pr == -2) {
        sk_compile_result_clear(r);
        return sk_fail(err, SPARSEK_OUT_OF_MEMORY, "out of memory receiving the compile result");
    }
    if (pr != 0) {
        sk_compile_result_clear(r);
        return sk_fail(err, SPARSEK_COMPILE_CRASHED, "compiler process sent a malformed result");
    }
    return st;
}

/* ---------------------------------------------------------------------------------------
 * NVRTC in a child
 * --------------------------------------------------------------------------------------- */

typedef struct nvrtc_job {
    sk_nvrtc *n;
    const char *source, *name, *arch;
} nvrtc_job;

static sparsek_status nvrtc_job_run(void *ctx, sk_compile_result *r, sk_err *err) {
    nvrtc_job *j = ctx;
    return sk_nvrtc_compile(j->n, j->source, j->name, j->arch, r, err);
}

sparsek_status sk_nvrtc_compile_isolated(sk_nvrtc *n, const char *source, const char *name,
                                         const char *arch, unsigned timeout_ms, sk_compile_result *r,
                                         sk_err *err) {
    if (r) {
        memset(r, 0, sizeof *r);
        r->registers = -1;
    }
    /* Argument checks here, so that they cost no fork; NVRTC is already open in this process
     * (n), so the child never calls dlopen after fork. */
    if (!n || !source || !arch || !r)
        return sk_fail(err, SPARSEK_INVALID_ARGUMENT, "sk_nvrtc_compile_isolated: %s is NULL",
                       !n ? "nvrtc handle" : !source ? "source" : !arch ? "arch" : "result");
    if (!sk_arch_valid(arch))
        return sk_nvrtc_compile(n, source, name, arch, r, err); /* same message, no fork */
    nvrtc_job j = {n, source, name, arch};
    return sk_isolated_run(nvrtc_job_run, &j, timeout_ms, r, err);
}
