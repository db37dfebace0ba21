/*
 * ferrolb Layer 2 frame I/O (part of the same addon as nfqueue.c): send a complete Ethernet frame on
 * an interface (gratuitous ARP, unsolicited NA), and watch ARP and Neighbour Advertisements from
 * others (duplicate detection). No parsing here; TypeScript builds and reads the frames.
 * The capture socket is watched with uv_poll on the calling thread's loop (works in worker threads).
 *
 * JS API (see src/l2/native.ts):
 *   sendFrame(ifindex, frame: Buffer)                      frame starts with the destination MAC
 *   openCapture(onFrames) -> handle                         onFrames(frames: Buffer[], ifindexes: number[])
 *   closeCapture(handle)
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/filter.h>

#define PTHROW(env, msg)                  \
  do {                                    \
    napi_throw_error((env), NULL, (msg)); \
    return NULL;                          \
  } while (0)

static int tx_fd = -1;

static napi_value js_send_frame(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t ifindex;
  void *frame;
  size_t len;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &ifindex) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &frame, &len) != napi_ok || len < 14 || len > 1514)
    PTHROW(env, "sendFrame(ifindex, frame: Buffer of 14..1514 bytes)");
  /* One socket per process; protocol 0 means it never receives. Threads may race to create it. */
  int fd = __atomic_load_n(&tx_fd, __ATOMIC_ACQUIRE);
  if (fd < 0) {
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s < 0) PTHROW(env, strerror(errno));
    int expected = -1;
    if (!__atomic_compare_exchange_n(&tx_fd, &expected, s, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      close(s);
      s = expected;
    }
    fd = s;
  }
  struct sockaddr_ll sa = {.sll_family = AF_PACKET, .sll_ifindex = (int)ifindex, .sll_halen = ETH_ALEN};
  memcpy(sa.sll_addr, frame, ETH_ALEN);
  if (sendto(fd, frame, len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) PTHROW(env, strerror(errno));
  return NULL;
}

typedef struct {
  int fd;
  int closed;
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
} capture_t;

#define CAP_BATCH 64

static void on_capture(uv_poll_t *h, int status, int events) {
  capture_t *c = (capture_t *)h->data;
  if (c->closed || status < 0) return;
  napi_env env = c->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value frames, indexes;
  napi_create_array(env, &frames);
  napi_create_array(env, &indexes);
  uint32_t n = 0;
  unsigned char buf[2048];
  while (n < CAP_BATCH) {
    struct sockaddr_ll from;
    socklen_t fl = sizeof from;
    ssize_t r = recvfrom(c->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (r < 0) break;
    if (from.sll_pkttype == PACKET_OUTGOING) continue; /* our own frames */
    napi_value b, ix;
    void *data;
    napi_create_buffer_copy(env, (size_t)r, buf, &data, &b);
    napi_create_uint32(env, (uint32_t)from.sll_ifindex, &ix);
    napi_set_element(env, frames, n, b);
    napi_set_element(env, indexes, n, ix);
    n++;
  }
  if (n > 0) {
    napi_value cb, global, argv[2] = {frames, indexes};
    napi_get_reference_value(env, c->callback, &cb);
    napi_get_global(env, &global);
    napi_call_function(env, global, cb, 2, argv, NULL);
  }
  napi_close_handle_scope(env, scope);
}

/* ARP (any), or IPv6 + ICMPv6 type 136 (Neighbour Advertisement) without extension headers. */
static struct sock_filter FILTER[] = {
    {BPF_LD | BPF_H | BPF_ABS, 0, 0, 12},      {BPF_JMP | BPF_JEQ | BPF_K, 5, 0, ETH_P_ARP},
    {BPF_JMP | BPF_JEQ | BPF_K, 0, 5, ETH_P_IPV6}, {BPF_LD | BPF_B | BPF_ABS, 0, 0, 20},
    {BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 58},      {BPF_LD | BPF_B | BPF_ABS, 0, 0, 54},
    {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 136},     {BPF_RET | BPF_K, 0, 0, 0xffff},
    {BPF_RET | BPF_K, 0, 0, 0},
};

static void finalize_capture(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  capture_t *c = (capture_t *)data;
  if (!c->closed) {
    c->closed = 1;
    uv_poll_stop(&c->poll);
    close(c->fd);
  }
}

static napi_value js_open_capture(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) PTHROW(env, "openCapture(onFrames)");
  /* Protocol 0 first: nothing is queued before the filter is on; then bind to every protocol. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) PTHROW(env, strerror(errno));
  struct sock_fprog prog = {.len = sizeof FILTER / sizeof FILTER[0], .filter = FILTER};
  struct sockaddr_ll sa = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    PTHROW(env, strerror(e));
  }
  capture_t *c = calloc(1, sizeof *c);
  c->fd = fd;
  c->env = env;
  napi_create_reference(env, argv[0], 1, &c->callback);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &c->poll, fd);
  c->poll.data = c;
  uv_poll_start(&c->poll, UV_READABLE, on_capture);
  napi_value handle;
  napi_create_object(env, &handle);
  napi_wrap(env, handle, c, finalize_capture, NULL, NULL);
  return handle;
}

static napi_value js_close_capture(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc < 1 || napi_unwrap(env, argv[0], &p) != napi_ok || !p) return NULL;
  capture_t *c = (capture_t *)p;
  if (!c->closed) {
    c->closed = 1;
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, NULL);
    close(c->fd);
    napi_delete_reference(env, c->callback);
  }
  return NULL;
}

void ferrolb_packet_init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"sendFrame", NULL, js_send_frame, NULL, NULL, NULL, napi_default, NULL},
      {"openCapture", NULL, js_open_capture, NULL, NULL, NULL, napi_default, NULL},
      {"closeCapture", NULL, js_close_capture, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
