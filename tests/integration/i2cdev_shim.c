/* LD_PRELOAD shim for testing an i2c-dev host stack without hardware:
 * open() of /dev/i2c-N returns a connection to the trustm-sim daemon
 * (socket path in $TRUSTM_SHIM_SOCKET); ioctl(I2C_RDWR) on it becomes
 * socket-protocol requests (0x01 write, 0x02 read; reply status 0x01 =
 * address NACK -> errno EREMOTEIO, as i2c adapters report a NACK).
 * ioctl(I2C_SLAVE / I2C_SLAVE_FORCE) sets the address that plain write()
 * and read() on the fd use (one I2C transaction each, as i2c-dev does:
 * libtrustm's port uses I2C_RDWR, Infineon's Linux PAL uses
 * I2C_SLAVE + write/read). Every other fd goes to the real libc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAXFD 1024
static unsigned char ours[MAXFD];
static unsigned char slave_addr[MAXFD]; /* I2C_SLAVE address per fd */

static int shim_connect(void)
{
    const char *p = getenv("TRUSTM_SHIM_SOCKET");
    struct sockaddr_un sa;
    int fd;
    if (!p || strlen(p) >= sizeof sa.sun_path) {
        errno = ENOENT;
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, p);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || fd >= MAXFD) {
        close(fd);
        errno = ENODEV;
        return -1;
    }
    ours[fd] = 1;
    slave_addr[fd] = 0;
    return fd;
}

static int is_i2c(const char *path)
{
    return path && strncmp(path, "/dev/i2c-", 9) == 0;
}

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (is_i2c(path)) {
        return shim_connect();
    }
    if (!real) {
        real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    }
    return real(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (is_i2c(path)) {
        return shim_connect();
    }
    if (!real) {
        real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open64");
    }
    return real(path, flags, mode);
}

static int io_all(int fd, uint8_t *p, size_t n, int wr)
{
    while (n) {
        ssize_t k = wr ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int one_msg(int fd, struct i2c_msg *m)
{
    uint8_t h[4] = {(m->flags & I2C_M_RD) ? 0x02 : 0x01, (uint8_t)m->addr, (uint8_t)(m->len >> 8),
                    (uint8_t)m->len};
    uint8_t r[3];
    size_t n;
    if (io_all(fd, h, 4, 1) || (!(m->flags & I2C_M_RD) && m->len && io_all(fd, m->buf, m->len, 1)) ||
        io_all(fd, r, 3, 0)) {
        errno = EIO;
        return -1;
    }
    n = (size_t)(r[1] << 8 | r[2]);
    if (n > m->len) {
        errno = EIO;
        return -1;
    }
    if (n && io_all(fd, m->buf, n, 0)) {
        errno = EIO;
        return -1;
    }
    if (r[0] == 0x01 || r[0] == 0x02) {
        errno = EREMOTEIO;
        return -1;
    }
    if (r[0] != 0 || ((m->flags & I2C_M_RD) && n != m->len)) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int ioctl(int fd, unsigned long req, ...)
{
    static int (*real)(int, unsigned long, ...);
    va_list ap;
    void *arg;
    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (fd >= 0 && fd < MAXFD && ours[fd]) {
        if (req == I2C_RDWR) {
            struct i2c_rdwr_ioctl_data *d = arg;
            for (unsigned i = 0; i < d->nmsgs; i++) {
                if (one_msg(fd, &d->msgs[i]) != 0) {
                    return -1;
                }
            }
            return (int)d->nmsgs;
        }
        if (req == I2C_SLAVE || req == I2C_SLAVE_FORCE) {
            unsigned long a = (unsigned long)(uintptr_t)arg;
            if (a > 0x7F) {
                errno = EINVAL;
                return -1;
            }
            slave_addr[fd] = (unsigned char)a;
            return 0;
        }
        errno = ENOTTY;
        return -1;
    }
    if (!real) {
        real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
    }
    return real(fd, req, arg);
}

/* plain read()/write() on an i2c-dev fd: one transaction to the I2C_SLAVE address */
static ssize_t plain_xfer(int fd, void *buf, size_t n, int rd)
{
    struct i2c_msg m;
    if (n > 0xFFFF) {
        errno = EINVAL;
        return -1;
    }
    memset(&m, 0, sizeof m);
    m.addr = slave_addr[fd];
    m.flags = rd ? I2C_M_RD : 0;
    m.len = (uint16_t)n;
    m.buf = buf;
    return one_msg(fd, &m) == 0 ? (ssize_t)n : -1;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (fd >= 0 && fd < MAXFD && ours[fd]) {
        return plain_xfer(fd, (void *)(uintptr_t)buf, n, 0);
    }
    if (!real) {
        real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    }
    return real(fd, buf, n);
}

ssize_t read(int fd, void *buf, size_t n)
{
    static ssize_t (*real)(int, void *, size_t);
    if (fd >= 0 && fd < MAXFD && ours[fd]) {
        return plain_xfer(fd, buf, n, 1);
    }
    if (!real) {
        real = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    }
    return real(fd, buf, n);
}

int close(int fd)
{
    static int (*real)(int);
    if (fd >= 0 && fd < MAXFD) {
        ours[fd] = 0;
    }
    if (!real) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "close");
    }
    return real(fd);
}
