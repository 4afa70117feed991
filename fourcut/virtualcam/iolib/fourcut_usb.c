/*
 * fourcut_usb.c: a libgphoto2 port library (iolib) that makes fourcut's
 * virtual camera a USB camera at usb:001,007.
 *
 * Written for fourcut (MIT). libgphoto2_port loads every shared object in
 * the directory named by $IOLIBS and calls the three exported functions at
 * the bottom of this file. This library is dlclosed after listing and
 * loaded again for each port, so nothing is kept in static variables: what
 * an open port needs lives in port->pl.
 *
 * There is no USB here. The "device" is the virtual camera's Unix socket
 * ($FOURCUT_VUSB_SOCKET), served by fourcut/virtualcam/usb.py; the two
 * files must agree on this protocol:
 *
 *   Every frame is u32 n (payload bytes, little-endian, at most 4 MiB),
 *   u8 type, then n bytes of payload. Host (this library) to camera:
 *     0x01 HELLO       empty: who are you?
 *     0x02 CLAIM       u32 pid: claim the interface (one host at a time)
 *     0x03 BULK_OUT    bytes of one bulk OUT write (empty = zero-length)
 *     0x04 CONTROL     u8 bmRequestType, u8 bRequest, u16 wValue,
 *                      u16 wIndex, u16 wLength, then the OUT data
 *     0x05 RESET       reset the device (it ends its PTP session)
 *     0x06 CLEAR_HALT  u8 endpoint (0 bulk in, 1 bulk out, 2 interrupt)
 *   Camera to host:
 *     0x81 IDENT       u16 idVendor, u16 idProduct, u8 class, u8 subclass,
 *                      u8 protocol, u8 flags (bit 0: claimed by a host)
 *     0x82 CLAIMED     the claim succeeded
 *     0x83 BUSY        another host holds the claim
 *     0x84 CONTROL_REPLY  u8 status (0 ok, else stall), then the IN data
 *     0x85 RESET_DONE, 0x86 HALT_CLEARED
 *     0x90 BULK_IN     u8 flags (bit 0: last piece of this transfer), bytes
 *     0x91 INTERRUPT   one interrupt transfer (a PTP event container)
 *
 * A connection that sent HELLO may close or CLAIM; bulk, control, reset
 * and clear-halt frames need a claim. Closing the connection releases it.
 * A listing probe (HELLO) the camera does not answer, or answers by
 * closing, means there is no camera: the port is not listed.
 *
 * USB semantics kept: device-to-host data comes in transfers, each ended by
 * a BULK_IN frame with the "last" flag (a zero-length transfer is one empty
 * last frame: the zero-length packet after a transfer of a multiple of the
 * packet size). A read returns at most the rest of the current transfer and
 * never joins two. Every blocking call waits with poll() for at most the
 * port's timeout; a closed or broken socket fails at once.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <gphoto2/gphoto2-port.h>
#include <gphoto2/gphoto2-port-info-list.h>
#include <gphoto2/gphoto2-port-log.h>
#include <gphoto2/gphoto2-port-result.h>

/*
 * libgphoto2's gphoto2-port-library.h is not installed by Debian's
 * libgphoto2-dev; this is its GPPortOperations, field for field (identical
 * in libgphoto2 2.5.30 and 2.5.34). Re-check it when libgphoto2 changes.
 */
typedef struct _GPPortOperations {
	int (*init)(GPPort *);
	int (*exit)(GPPort *);
	int (*open)(GPPort *);
	int (*close)(GPPort *);
	int (*read)(GPPort *, char *, int);
	int (*check_int)(GPPort *, char *, int, int);
	int (*write)(GPPort *, const char *, int);
	int (*update)(GPPort *);
	int (*get_pin)(GPPort *, GPPin, GPLevel *);
	int (*set_pin)(GPPort *, GPPin, GPLevel);
	int (*send_break)(GPPort *, int);
	int (*flush)(GPPort *, int);
	int (*find_device)(GPPort *, int, int);
	int (*find_device_by_class)(GPPort *, int, int, int);
	int (*clear_halt)(GPPort *, int);
	int (*msg_write)(GPPort *, int, int, int, char *, int);
	int (*msg_read)(GPPort *, int, int, int, char *, int);
	int (*msg_interface_write)(GPPort *, int, int, int, char *, int);
	int (*msg_interface_read)(GPPort *, int, int, int, char *, int);
	int (*msg_class_write)(GPPort *, int, int, int, char *, int);
	int (*msg_class_read)(GPPort *, int, int, int, char *, int);
	int (*seek)(GPPort *, int, int);
	int (*send_scsi_cmd)(GPPort *, int, char *, int, char *, int, char *,
			     int);
	int (*reset)(GPPort *);
} GPPortOperations;

GPPortType gp_port_library_type(void);
int gp_port_library_list(GPPortInfoList *list);
GPPortOperations *gp_port_library_operations(void);

#define LOG(...) gp_log(GP_LOG_DEBUG, "fourcut-usb", __VA_ARGS__)

#define SOCKET_ENV "FOURCUT_VUSB_SOCKET"
#define PORT_PATH "usb:001,007"
#define PORT_BUS 1
#define PORT_DEVICE 7

/* Frame types (see the top of the file). */
enum {
	F_HELLO = 0x01, F_CLAIM = 0x02, F_BULK_OUT = 0x03, F_CONTROL = 0x04,
	F_RESET = 0x05, F_CLEAR_HALT = 0x06,
	F_IDENT = 0x81, F_CLAIMED = 0x82, F_BUSY = 0x83,
	F_CONTROL_REPLY = 0x84, F_RESET_DONE = 0x85, F_HALT_CLEARED = 0x86,
	F_BULK_IN = 0x90, F_INTERRUPT = 0x91,
};

#define HEADER_SIZE 5
#define MAX_PAYLOAD (4u << 20)		/* refuse bigger frames */
#define OUT_CHUNK (1u << 20)		/* bulk writes are split at this */
#define MAX_QUEUED_IN (64u << 20)	/* unread bulk-in bytes we hold */
#define MAX_QUEUED_INT 1024		/* unread interrupt transfers */
#define PROBE_TIMEOUT 2000		/* ms for the listing probe */
#define CONNECT_TIMEOUT 2000

/* What a real camera's interface descriptor would say. */
#define EP_IN 0x81
#define EP_OUT 0x02
#define EP_INT 0x83
#define MAX_PACKET 512

struct chunk {
	struct chunk *next;
	unsigned char *buf;	/* the whole frame payload */
	size_t off, len;	/* unread bytes are buf[off..len) */
	int last;		/* ends its transfer */
};

struct queue {
	struct chunk *head, *tail;
	size_t bytes;
	unsigned int count;
};

/* One connection to the camera and what it has sent us so far. */
struct conn {
	int fd;
	unsigned char hdr[HEADER_SIZE];
	size_t hdr_got;
	unsigned char *body;
	size_t body_len, body_got;
	int body_ready;		/* header read, body allocated */
	struct queue bulk_in;
	struct queue interrupts;
	int reply_type;		/* 0: no reply waiting */
	unsigned char *reply;
	size_t reply_len;
	char why[160];		/* why the connection ended */
};

struct ident {
	unsigned int vendor, product, cls, subclass, protocol, flags;
};

struct _GPPortPrivateLibrary {
	struct conn c;
	int ident_state;	/* 0 not asked, 1 known, -1 camera absent */
	struct ident id;
};

/* Time ------------------------------------------------------------------ */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A deadline timeout_ms from now; -1 (no deadline) for a negative value. */
static int64_t
deadline_in(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Milliseconds left for poll(): -1 without a deadline, 0 when past it. */
static int
remaining(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Little-endian ---------------------------------------------------------- */

static void
put16(unsigned char *p, unsigned int v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static unsigned int
get16(const unsigned char *p)
{
	return p[0] | (p[1] << 8);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16)
		| ((uint32_t)p[3] << 24);
}

/* Queues ------------------------------------------------------------------ */

static void
queue_push(struct queue *q, struct chunk *ch)
{
	ch->next = NULL;
	if (q->tail)
		q->tail->next = ch;
	else
		q->head = ch;
	q->tail = ch;
	q->bytes += ch->len - ch->off;
	q->count++;
}

static void
queue_pop(struct queue *q)
{
	struct chunk *ch = q->head;

	if (!ch)
		return;
	q->head = ch->next;
	if (!q->head)
		q->tail = NULL;
	q->bytes -= ch->len - ch->off;
	q->count--;
	free(ch->buf);
	free(ch);
}

static void
queue_clear(struct queue *q)
{
	while (q->head)
		queue_pop(q);
}

/* Take n bytes from the head chunk (n no more than it holds). */
static void
queue_take(struct queue *q, unsigned char *dst, size_t n)
{
	struct chunk *ch = q->head;

	memcpy(dst, ch->buf + ch->off, n);
	ch->off += n;
	q->bytes -= n;
}

/* Connection ------------------------------------------------------------- */

static void
conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void
conn_reset_rx(struct conn *c)
{
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_got = c->hdr_got = 0;
	c->body_ready = 0;
}

static void
conn_drop_reply(struct conn *c)
{
	free(c->reply);
	c->reply = NULL;
	c->reply_len = 0;
	c->reply_type = 0;
}

/* The connection is over: keep what was already received, note why. */
static void
conn_fail(struct conn *c, const char *why)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	conn_reset_rx(c);
	if (!c->why[0])
		snprintf(c->why, sizeof(c->why), "%s", why);
	LOG("connection ended: %s", c->why);
}

/*
 * Wait until the connection can take (POLLOUT) or give (POLLIN) bytes, or
 * the deadline passes: 1 ready, 0 timed out, -1 failed (the connection is
 * then closed). A writer also fails on a hang-up; a reader learns of one
 * from recv() returning 0.
 */
static int
wait_ready(struct conn *c, short events, int64_t deadline)
{
	struct pollfd pfd;
	int r;

	pfd.fd = c->fd;
	pfd.events = events;
	do {
		r = poll(&pfd, 1, remaining(deadline));
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		conn_fail(c, strerror(errno));
		return -1;
	}
	if (r > 0 && events == POLLOUT
	    && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))) {
		conn_fail(c, "the camera closed the connection");
		return -1;
	}
	return r;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	conn_reset_rx(c);
	conn_drop_reply(c);
	queue_clear(&c->bulk_in);
	queue_clear(&c->interrupts);
	c->why[0] = '\0';
}

static const char *
socket_path(void)
{
	const char *path = getenv(SOCKET_ENV);

	if (!path || !path[0])
		return NULL;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return NULL;
	return path;
}

/* Connect to the camera; 0 or a negative errno. */
static int
conn_connect(struct conn *c, const char *path, int timeout_ms)
{
	struct sockaddr_un addr;
	struct pollfd pfd;
	int fd, err = 0, r;
	socklen_t len = sizeof(err);

	conn_close(c);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			close(fd);
			return err;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do {
			r = poll(&pfd, 1, timeout_ms);
		} while (r < 0 && errno == EINTR);
		if (r <= 0) {
			close(fd);
			return r == 0 ? -ETIMEDOUT : -errno;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0
		    || err) {
			close(fd);
			return err ? -err : -EIO;
		}
	}
	c->fd = fd;
	return 0;
}

/*
 * Send one frame before the deadline. GP_OK, GP_ERROR_TIMEOUT (nothing was
 * sent, the connection is intact) or GP_ERROR_IO (the connection is over;
 * a frame cut in half cannot be taken back, so a late timeout ends it too).
 */
static int
conn_send(struct conn *c, int type, const void *a, size_t alen,
	  const void *b, size_t blen, int64_t deadline)
{
	unsigned char hdr[HEADER_SIZE];
	struct iovec iov[3];
	struct msghdr msg;
	size_t total, sent = 0;
	int n_iov = 0, r;

	if (c->fd < 0)
		return GP_ERROR_IO;
	put32(hdr, (uint32_t)(alen + blen));
	hdr[4] = (unsigned char)type;
	iov[n_iov].iov_base = hdr;
	iov[n_iov++].iov_len = sizeof(hdr);
	if (alen) {
		iov[n_iov].iov_base = (void *)a;
		iov[n_iov++].iov_len = alen;
	}
	if (blen) {
		iov[n_iov].iov_base = (void *)b;
		iov[n_iov++].iov_len = blen;
	}
	total = sizeof(hdr) + alen + blen;
	while (sent < total) {
		ssize_t n;
		size_t skip = sent;
		int first = 0;

		/* Point the iovecs at what is still unsent. */
		struct iovec rest[3];
		int n_rest = 0;
		for (first = 0; first < n_iov; first++) {
			if (skip >= iov[first].iov_len) {
				skip -= iov[first].iov_len;
				continue;
			}
			rest[n_rest].iov_base = (char *)iov[first].iov_base + skip;
			rest[n_rest++].iov_len = iov[first].iov_len - skip;
			skip = 0;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = rest;
		msg.msg_iovlen = n_rest;
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			sent += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_fail(c, strerror(errno));
			return GP_ERROR_IO;
		}
		r = wait_ready(c, POLLOUT, deadline);
		if (r < 0)
			return GP_ERROR_IO;
		if (r == 0) {
			if (sent == 0)
				return GP_ERROR_TIMEOUT;
			conn_fail(c, "timed out in the middle of a frame");
			return GP_ERROR_IO;
		}
	}
	return GP_OK;
}

/* File a complete frame; 0, or GP_ERROR_IO on a protocol violation. */
static int
conn_file(struct conn *c, int type, unsigned char *body, size_t len)
{
	struct chunk *ch;

	switch (type) {
	case F_BULK_IN:
	case F_INTERRUPT:
		if (type == F_BULK_IN && len < 1) {
			free(body);
			conn_fail(c, "bulk-in frame without flags");
			return GP_ERROR_IO;
		}
		ch = calloc(1, sizeof(*ch));
		if (!ch) {
			free(body);
			conn_fail(c, "out of memory");
			return GP_ERROR_IO;
		}
		ch->buf = body;
		ch->len = len;
		if (type == F_BULK_IN) {
			ch->off = 1;
			ch->last = body[0] & 1;
			queue_push(&c->bulk_in, ch);
			if (c->bulk_in.bytes > MAX_QUEUED_IN) {
				conn_fail(c, "too much unread bulk-in data");
				return GP_ERROR_IO;
			}
		} else {
			ch->last = 1;
			if (c->interrupts.count >= MAX_QUEUED_INT) {
				LOG("dropping an unread interrupt transfer");
				queue_pop(&c->interrupts);
			}
			queue_push(&c->interrupts, ch);
		}
		return 0;
	case F_IDENT:
	case F_CLAIMED:
	case F_BUSY:
	case F_CONTROL_REPLY:
	case F_RESET_DONE:
	case F_HALT_CLEARED:
		if (c->reply_type) {
			free(body);
			conn_fail(c, "unexpected reply from the camera");
			return GP_ERROR_IO;
		}
		c->reply_type = type;
		c->reply = body;
		c->reply_len = len;
		return 0;
	default:
		free(body);
		conn_fail(c, "unknown frame type from the camera");
		return GP_ERROR_IO;
	}
}

/*
 * Receive until one whole frame is filed (1), the deadline passes (0) or
 * the connection ends (GP_ERROR_IO). A frame may arrive over several calls.
 */
static int
conn_pump(struct conn *c, int64_t deadline)
{
	int r;

	for (;;) {
		unsigned char *dst;
		size_t want;
		ssize_t n;

		if (c->fd < 0)
			return GP_ERROR_IO;
		if (!c->body_ready) {
			dst = c->hdr + c->hdr_got;
			want = HEADER_SIZE - c->hdr_got;
		} else {
			dst = c->body + c->body_got;
			want = c->body_len - c->body_got;
		}
		if (want) {
			n = recv(c->fd, dst, want, MSG_DONTWAIT);
			if (n == 0) {
				conn_fail(c, "the camera closed the connection");
				return GP_ERROR_IO;
			}
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK) {
					conn_fail(c, strerror(errno));
					return GP_ERROR_IO;
				}
				r = wait_ready(c, POLLIN, deadline);
				if (r < 0)
					return GP_ERROR_IO;
				if (r == 0)
					return 0;
				continue;
			}
			if (!c->body_ready)
				c->hdr_got += (size_t)n;
			else
				c->body_got += (size_t)n;
		}
		if (!c->body_ready) {
			if (c->hdr_got < HEADER_SIZE)
				continue;
			c->body_len = get32(c->hdr);
			if (c->body_len > MAX_PAYLOAD) {
				conn_fail(c, "oversized frame from the camera");
				return GP_ERROR_IO;
			}
			c->body = malloc(c->body_len ? c->body_len : 1);
			if (!c->body) {
				conn_fail(c, "out of memory");
				return GP_ERROR_IO;
			}
			c->body_got = 0;
			c->body_ready = 1;
		}
		if (c->body_got == c->body_len) {
			unsigned char *body = c->body;
			size_t len = c->body_len;
			int type = c->hdr[4];

			c->body = NULL;
			conn_reset_rx(c);
			if (conn_file(c, type, body, len) < 0)
				return GP_ERROR_IO;
			return 1;
		}
	}
}

/*
 * Send a request frame and wait for the camera's reply frame (any type;
 * bulk and interrupt frames that arrive meanwhile are queued). GP_OK with
 * c->reply_type set, GP_ERROR_TIMEOUT or GP_ERROR_IO.
 */
static int
conn_request(struct conn *c, int type, const void *payload, size_t len,
	     int64_t deadline)
{
	int r;

	conn_drop_reply(c);
	r = conn_send(c, type, payload, len, NULL, 0, deadline);
	if (r < 0)
		return r;
	while (!c->reply_type) {
		r = conn_pump(c, deadline);
		if (r < 0)
			return r;
		if (r == 0)
			return GP_ERROR_TIMEOUT;
	}
	return GP_OK;
}

/* Ask the camera at path who it is (a short-lived connection). */
static int
query_ident(const char *path, int timeout_ms, struct ident *id)
{
	struct conn c;
	int r;

	conn_init(&c);
	if (conn_connect(&c, path, timeout_ms) < 0)
		return GP_ERROR_IO_USB_FIND;
	r = conn_request(&c, F_HELLO, NULL, 0, deadline_in(timeout_ms));
	if (r == GP_OK && (c.reply_type != F_IDENT || c.reply_len < 8))
		r = GP_ERROR_IO;
	if (r == GP_OK) {
		id->vendor = get16(c.reply);
		id->product = get16(c.reply + 2);
		id->cls = c.reply[4];
		id->subclass = c.reply[5];
		id->protocol = c.reply[6];
		id->flags = c.reply[7];
	}
	conn_close(&c);
	return r == GP_OK ? GP_OK : GP_ERROR_IO_USB_FIND;
}

/* The port --------------------------------------------------------------- */

static const char *
gone_reason(GPPort *port)
{
	return port->pl->c.why[0] ? port->pl->c.why : "not open";
}

static int
fc_init(GPPort *port)
{
	port->pl = calloc(1, sizeof(*port->pl));
	if (!port->pl)
		return GP_ERROR_NO_MEMORY;
	conn_init(&port->pl->c);
	return GP_OK;
}

static int
fc_exit(GPPort *port)
{
	if (port->pl) {
		conn_close(&port->pl->c);
		free(port->pl);
		port->pl = NULL;
	}
	return GP_OK;
}

static int
port_timeout(GPPort *port)
{
	/* libusb's convention: 0 waits without limit. */
	return port->timeout > 0 ? port->timeout : -1;
}

static int
fc_open(GPPort *port)
{
	struct conn *c;
	const char *path;
	unsigned char pid[4];
	int r, timeout;

	if (!port->pl)
		return GP_ERROR_BAD_PARAMETERS;
	c = &port->pl->c;
	if (c->fd >= 0)
		return GP_OK;
	path = socket_path();
	if (!path) {
		gp_port_set_error(port, "Could not open USB device (%s is not "
				  "set).", SOCKET_ENV);
		return GP_ERROR_IO_USB_FIND;
	}
	r = conn_connect(c, path, CONNECT_TIMEOUT);
	if (r < 0) {
		gp_port_set_error(port, "Could not open USB device (%s).",
				  strerror(-r));
		return GP_ERROR_IO_USB_FIND;
	}
	put32(pid, (uint32_t)getpid());
	timeout = port->timeout > 0 ? port->timeout : 5000;
	r = conn_request(c, F_CLAIM, pid, sizeof(pid), deadline_in(timeout));
	if (r == GP_OK && c->reply_type == F_CLAIMED) {
		conn_drop_reply(c);
		LOG("claimed the virtual camera at %s", path);
		return GP_OK;
	}
	if (r == GP_OK && c->reply_type == F_BUSY) {
		conn_close(c);
		gp_port_set_error(port, "Could not claim interface %d (%s). "
				  "Make sure no other program (%s) is using "
				  "the device and you have read/write access "
				  "to the device.", port->settings.usb.interface,
				  strerror(EBUSY), "another gphoto2 or "
				  "fourcut on the virtual camera");
		return GP_ERROR_IO_USB_CLAIM;
	}
	gp_port_set_error(port, "Could not open USB device (%s).",
			  r == GP_ERROR_TIMEOUT ? "the camera did not answer"
			  : gone_reason(port));
	conn_close(c);
	return r == GP_ERROR_TIMEOUT ? GP_ERROR_TIMEOUT : GP_ERROR_IO_USB_FIND;
}

static int
fc_close(GPPort *port)
{
	if (port->pl)
		conn_close(&port->pl->c);
	return GP_OK;
}

static int
fc_read(GPPort *port, char *bytes, int size)
{
	struct conn *c;
	struct queue *q;
	int64_t deadline;
	int copied = 0, r;

	if (!port->pl || size < 0 || (size && !bytes))
		return GP_ERROR_BAD_PARAMETERS;
	c = &port->pl->c;
	q = &c->bulk_in;
	deadline = deadline_in(port_timeout(port));
	for (;;) {
		struct chunk *ch;
		size_t n;

		while (!q->head) {
			r = conn_pump(c, deadline);
			if (r == 0)
				return GP_ERROR_TIMEOUT;
			if (r < 0) {
				gp_port_set_error(port, "Could not read from "
						  "the USB device (%s).",
						  gone_reason(port));
				return GP_ERROR_IO_READ;
			}
		}
		ch = q->head;
		n = ch->len - ch->off;
		if (n > (size_t)(size - copied))
			n = (size_t)(size - copied);
		queue_take(q, (unsigned char *)bytes + copied, n);
		copied += (int)n;
		if (ch->off == ch->len) {
			int last = ch->last;

			queue_pop(q);
			if (last)
				return copied;	/* the transfer is over */
		}
		if (copied == size)
			return copied;
	}
}

static int
fc_write(GPPort *port, const char *bytes, int size)
{
	struct conn *c;
	int64_t deadline;
	int done = 0, r;

	if (!port->pl || size < 0 || (size && !bytes))
		return GP_ERROR_BAD_PARAMETERS;
	c = &port->pl->c;
	deadline = deadline_in(port_timeout(port));
	do {
		size_t n = (size_t)(size - done);

		if (n > OUT_CHUNK)
			n = OUT_CHUNK;
		r = conn_send(c, F_BULK_OUT, bytes + done, n, NULL, 0,
			      deadline);
		if (r == GP_ERROR_TIMEOUT)
			return GP_ERROR_TIMEOUT;
		if (r < 0) {
			gp_port_set_error(port, "Could not write to the USB "
					  "device (%s).", gone_reason(port));
			return GP_ERROR_IO_WRITE;
		}
		done += (int)n;
	} while (done < size);
	return size;
}

static int
fc_check_int(GPPort *port, char *bytes, int size, int timeout)
{
	struct conn *c;
	struct queue *q;
	struct chunk *ch;
	int64_t deadline;
	size_t n;
	int r;

	if (!port->pl || size < 0 || (size && !bytes) || timeout < 0)
		return GP_ERROR_BAD_PARAMETERS;
	c = &port->pl->c;
	q = &c->interrupts;
	/* A timeout of 0 only takes what has already arrived. */
	deadline = deadline_in(timeout);
	while (!q->head) {
		r = conn_pump(c, deadline);
		if (r == 0)
			return GP_ERROR_TIMEOUT;
		if (r < 0) {
			gp_port_set_error(port, "Could not read from the "
					  "interrupt endpoint (%s).",
					  gone_reason(port));
			return GP_ERROR_IO_READ;
		}
	}
	ch = q->head;
	n = ch->len - ch->off;
	if (n > (size_t)size)
		n = (size_t)size;
	queue_take(q, (unsigned char *)bytes, n);
	if (ch->off == ch->len)
		queue_pop(q);
	return (int)n;
}

static int
fc_update(GPPort *port)
{
	memcpy(&port->settings, &port->settings_pending,
	       sizeof(port->settings));
	return GP_OK;
}

/* Does the port's path (usb:, usb:BUS or usb:BUS,DEV) name our device? */
static int
path_matches(GPPort *port)
{
	const char *s = strchr(port->settings.usb.port, ':');
	int bus = 0, dev = 0;

	if (s && s[1]) {
		if (sscanf(s + 1, "%d,%d", &bus, &dev) != 2) {
			dev = 0;
			if (sscanf(s + 1, "%d", &bus) != 1)
				return 0;
		}
	}
	return (!bus || bus == PORT_BUS) && (!dev || dev == PORT_DEVICE);
}

static int
get_ident(GPPort *port)
{
	struct _GPPortPrivateLibrary *pl = port->pl;
	const char *path;

	/*
	 * Detection calls find_device once per known model: ask the camera
	 * once per port object and remember the answer (or its absence).
	 */
	if (pl->ident_state == 0) {
		path = socket_path();
		if (path && query_ident(path, PROBE_TIMEOUT, &pl->id) == GP_OK)
			pl->ident_state = 1;
		else
			pl->ident_state = -1;
	}
	return pl->ident_state == 1;
}

static void
use_interface(GPPort *port)
{
	port->settings.usb.config = 1;
	port->settings.usb.interface = 0;
	port->settings.usb.altsetting = 0;
	port->settings.usb.inep = EP_IN;
	port->settings.usb.outep = EP_OUT;
	port->settings.usb.intep = EP_INT;
	port->settings.usb.maxpacketsize = MAX_PACKET;
}

static int
fc_find_device(GPPort *port, int vendor, int product)
{
	if (!port->pl)
		return GP_ERROR_BAD_PARAMETERS;
	if (!vendor) {
		gp_port_set_error(port, "The supplied vendor or product id "
				  "(0x%x,0x%x) is not valid.", vendor, product);
		return GP_ERROR_BAD_PARAMETERS;
	}
	if (!path_matches(port) || !get_ident(port))
		return GP_ERROR_IO_USB_FIND;
	if ((unsigned int)vendor != port->pl->id.vendor
	    || (unsigned int)product != port->pl->id.product)
		return GP_ERROR_IO_USB_FIND;
	LOG("found %04x:%04x", vendor, product);
	use_interface(port);
	return GP_OK;
}

static int
fc_find_device_by_class(GPPort *port, int cls, int subclass, int protocol)
{
	struct ident *id;

	if (!port->pl || !cls)
		return GP_ERROR_BAD_PARAMETERS;
	if (!path_matches(port) || !get_ident(port))
		return GP_ERROR_IO_USB_FIND;
	id = &port->pl->id;
	if ((unsigned int)cls != id->cls
	    || (subclass != -1 && (unsigned int)subclass != id->subclass)
	    || (protocol != -1 && (unsigned int)protocol != id->protocol))
		return GP_ERROR_IO_USB_FIND;
	LOG("found class %d/%d/%d", cls, subclass, protocol);
	use_interface(port);
	return GP_OK;
}

/* Send a request that the camera answers with expect; GP_OK or an error. */
static int
simple_request(GPPort *port, int type, const void *payload, size_t len,
	       int expect)
{
	struct conn *c = &port->pl->c;
	int r;

	if (c->fd < 0)
		return GP_ERROR_IO;
	r = conn_request(c, type, payload, len,
			 deadline_in(port_timeout(port)));
	if (r == GP_OK && c->reply_type != expect) {
		conn_fail(c, "unexpected reply from the camera");
		r = GP_ERROR_IO;
	}
	conn_drop_reply(c);
	return r;
}

static int
fc_clear_halt(GPPort *port, int ep)
{
	unsigned char which;
	int r;

	if (!port->pl)
		return GP_ERROR_BAD_PARAMETERS;
	switch (ep) {
	case GP_PORT_USB_ENDPOINT_IN:
		which = 0;
		break;
	case GP_PORT_USB_ENDPOINT_OUT:
		which = 1;
		break;
	case GP_PORT_USB_ENDPOINT_INT:
		which = 2;
		break;
	default:
		gp_port_set_error(port, "bad EndPoint argument 0x%x", ep);
		return GP_ERROR_BAD_PARAMETERS;
	}
	r = simple_request(port, F_CLEAR_HALT, &which, 1, F_HALT_CLEARED);
	if (r == GP_ERROR_TIMEOUT)
		return r;
	return r < 0 ? GP_ERROR_IO_USB_CLEAR_HALT : GP_OK;
}

static int
fc_reset(GPPort *port)
{
	int r;

	if (!port->pl)
		return GP_ERROR_BAD_PARAMETERS;
	r = simple_request(port, F_RESET, NULL, 0, F_RESET_DONE);
	if (r == GP_ERROR_TIMEOUT)
		return r;
	if (r < 0) {
		gp_port_set_error(port, "Could not reset the USB device (%s).",
				  gone_reason(port));
		return GP_ERROR_IO;
	}
	return GP_OK;
}

/* bmRequestType bits */
#define RT_IN 0x80
#define RT_CLASS 0x20
#define RT_VENDOR 0x40
#define RT_INTERFACE 0x01

/* One control transfer; the byte count or an error. */
static int
control(GPPort *port, int request_type, int request, int value, int index,
	char *bytes, int size)
{
	struct conn *c;
	unsigned char setup[8];
	int64_t deadline;
	int in = request_type & RT_IN, r, n;

	if (!port->pl || size < 0 || size > 0xffff || (size && !bytes))
		return GP_ERROR_BAD_PARAMETERS;
	c = &port->pl->c;
	if (c->fd < 0)
		return in ? GP_ERROR_IO_READ : GP_ERROR_IO_WRITE;
	setup[0] = (unsigned char)request_type;
	setup[1] = (unsigned char)request;
	put16(setup + 2, (unsigned int)value);
	put16(setup + 4, (unsigned int)index);
	put16(setup + 6, (unsigned int)size);
	deadline = deadline_in(port_timeout(port));
	conn_drop_reply(c);
	r = conn_send(c, F_CONTROL, setup, sizeof(setup), in ? NULL : bytes,
		      in ? 0 : (size_t)size, deadline);
	while (r == GP_OK && !c->reply_type) {
		int p = conn_pump(c, deadline);

		if (p == 0)
			r = GP_ERROR_TIMEOUT;
		else if (p < 0)
			r = GP_ERROR_IO;
	}
	if (r == GP_ERROR_TIMEOUT)
		return r;
	if (r < 0 || c->reply_type != F_CONTROL_REPLY || c->reply_len < 1
	    || c->reply[0] != 0) {
		/* A stall, or no camera. */
		if (r == GP_OK && c->reply_type != F_CONTROL_REPLY)
			conn_fail(c, "unexpected reply from the camera");
		conn_drop_reply(c);
		return in ? GP_ERROR_IO_READ : GP_ERROR_IO_WRITE;
	}
	n = size;
	if (in) {
		if ((size_t)n > c->reply_len - 1)
			n = (int)(c->reply_len - 1);
		if (n)
			memcpy(bytes, c->reply + 1, (size_t)n);
	}
	conn_drop_reply(c);
	return n;
}

static int
fc_msg_write(GPPort *port, int request, int value, int index, char *bytes,
	     int size)
{
	return control(port, RT_VENDOR, request, value, index, bytes, size);
}

static int
fc_msg_read(GPPort *port, int request, int value, int index, char *bytes,
	    int size)
{
	return control(port, RT_IN | RT_VENDOR, request, value, index, bytes,
		       size);
}

static int
fc_msg_interface_write(GPPort *port, int request, int value, int index,
		       char *bytes, int size)
{
	return control(port, RT_VENDOR | RT_INTERFACE, request, value, index,
		       bytes, size);
}

static int
fc_msg_interface_read(GPPort *port, int request, int value, int index,
		      char *bytes, int size)
{
	return control(port, RT_IN | RT_VENDOR | RT_INTERFACE, request, value,
		       index, bytes, size);
}

static int
fc_msg_class_write(GPPort *port, int request, int value, int index,
		   char *bytes, int size)
{
	return control(port, RT_CLASS | RT_INTERFACE, request, value, index,
		       bytes, size);
}

static int
fc_msg_class_read(GPPort *port, int request, int value, int index,
		  char *bytes, int size)
{
	return control(port, RT_IN | RT_CLASS | RT_INTERFACE, request, value,
		       index, bytes, size);
}

/* The library's entry points --------------------------------------------- */

GPPortType
gp_port_library_type(void)
{
	return GP_PORT_USB;
}

int
gp_port_library_list(GPPortInfoList *list)
{
	GPPortInfo info;
	struct ident id;
	const char *path = socket_path();
	int r;

	/* No camera answering: no USB port at all, like an empty bus. */
	if (!path || query_ident(path, PROBE_TIMEOUT, &id) != GP_OK)
		return GP_OK;
	LOG("virtual camera %04x:%04x at %s", id.vendor, id.product, path);

	/*
	 * A nameless "^usb:" entry lets --port usb: (and usb:BUS,DEV) be
	 * matched by regex, as with libgphoto2's own USB library; nameless
	 * entries are not counted or shown as ports.
	 */
	r = gp_port_info_new(&info);
	if (r < GP_OK)
		return r;
	gp_port_info_set_type(info, GP_PORT_USB);
	gp_port_info_set_name(info, "");
	gp_port_info_set_path(info, "^usb:");
	gp_port_info_list_append(list, info);	/* -1 for a nameless entry */

	r = gp_port_info_new(&info);
	if (r < GP_OK)
		return r;
	gp_port_info_set_type(info, GP_PORT_USB);
	gp_port_info_set_name(info, "Universal Serial Bus");
	gp_port_info_set_path(info, PORT_PATH);
	r = gp_port_info_list_append(list, info);
	return r < GP_OK ? r : GP_OK;
}

GPPortOperations *
gp_port_library_operations(void)
{
	/* libgphoto2_port frees this with free(). */
	GPPortOperations *ops = calloc(1, sizeof(*ops));

	if (!ops)
		return NULL;
	ops->init = fc_init;
	ops->exit = fc_exit;
	ops->open = fc_open;
	ops->close = fc_close;
	ops->read = fc_read;
	ops->check_int = fc_check_int;
	ops->write = fc_write;
	ops->update = fc_update;
	ops->find_device = fc_find_device;
	ops->find_device_by_class = fc_find_device_by_class;
	ops->clear_halt = fc_clear_halt;
	ops->msg_write = fc_msg_write;
	ops->msg_read = fc_msg_read;
	ops->msg_interface_write = fc_msg_interface_write;
	ops->msg_interface_read = fc_msg_interface_read;
	ops->msg_class_write = fc_msg_class_write;
	ops->msg_class_read = fc_msg_class_read;
	ops->reset = fc_reset;
	return ops;
}
