/*
 * ferrolb packet I/O addon: an NFQUEUE reader/verdict writer over raw netlink (no libnetfilter_queue)
 * and a raw IP sender. Deliberately tiny: no parsing beyond netlink framing; every decision is made in
 * TypeScript. The socket is watched with uv_poll on Node's own loop, so no threads are involved.
 *
 * JS API (see src/sctp/shell/native.ts):
 *   open(queueNum, onPackets) -> handle     onPackets(ids: number[], packets: Buffer[]) per batch
 *   verdict(handle, id, accept: boolean, payload?: Buffer)
 *   close(handle)
 *   sendRaw(family: 4|6, dst: Buffer(4|16), packet: Buffer)   packet includes the IP header
 *   sendFrame / openCapture / closeCapture: Layer 2 frames, see packet.c
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

#define BUF_SIZE (256 * 1024)
#define MAX_BATCH 256

typedef struct {
  int fd;
  uint16_t queue;
  uint32_t seq;
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  int closed;
  unsigned char *buf;
} queue_t;

static int raw4 = -1, raw6 = -1;

#define THROW(env, msg)                          \
  do {                                           \
    napi_throw_error((env), NULL, (msg));        \
    return NULL;                                 \
  } while (0)

static void put_attr(unsigned char *msg, size_t *len, uint16_t type, const void *data, size_t dlen) {
  struct nlattr *a = (struct nlattr *)(msg + *len);
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + dlen);
  if (dlen) memcpy((unsigned char *)a + NLA_HDRLEN, data, dlen);
  *len += NLA_ALIGN(a->nla_len);
}

static size_t start_msg(unsigned char *msg, uint16_t type, uint16_t flags, uint16_t queue, uint32_t seq) {
  struct nlmsghdr *h = (struct nlmsghdr *)msg;
  memset(msg, 0, NLMSG_HDRLEN + sizeof(struct nfgenmsg));
  h->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  h->nlmsg_flags = NLM_F_REQUEST | flags;
  h->nlmsg_seq = seq;
  struct nfgenmsg *g = (struct nfgenmsg *)(msg + NLMSG_HDRLEN);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(queue);
  return NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
}

static int send_msg(int fd, unsigned char *msg, size_t len) {
  ((struct nlmsghdr *)msg)->nlmsg_len = (uint32_t)len;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  return sendto(fd, msg, len, 0, (struct sockaddr *)&sa, sizeof sa) < 0 ? -errno : 0;
}

/* Sends a config message and waits for its ACK so bind errors surface in open(). */
static int config(int fd, uint16_t queue, uint32_t seq, uint16_t attr, const void *data, size_t dlen) {
  unsigned char msg[256];
  size_t len = start_msg(msg, NFQNL_MSG_CONFIG, NLM_F_ACK, queue, seq);
  put_attr(msg, &len, attr, data, dlen);
  int r = send_msg(fd, msg, len);
  if (r < 0) return r;
  unsigned char ack[1024];
  for (int tries = 0; tries < 16; tries++) {
    ssize_t n = recv(fd, ack, sizeof ack, 0);
    if (n < 0) return -errno;
    for (struct nlmsghdr *h = (struct nlmsghdr *)ack; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == seq) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
  return -ETIMEDOUT;
}

static void on_readable(uv_poll_t *p, int status, int events) {
  queue_t *q = (queue_t *)p->data;
  if (status < 0 || q->closed) return;
  napi_env env = q->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value ids, pkts;
  napi_create_array(env, &ids);
  napi_create_array(env, &pkts);
  uint32_t count = 0;
  for (int round = 0; round < MAX_BATCH; round++) {
    ssize_t n = recv(q->fd, q->buf, BUF_SIZE, MSG_DONTWAIT);
    if (n <= 0) break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)q->buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if ((h->nlmsg_type & 0xff) != NFQNL_MSG_PACKET || (h->nlmsg_type >> 8) != NFNL_SUBSYS_QUEUE) continue;
      unsigned char *attrs = (unsigned char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
      int alen = (int)h->nlmsg_len - (int)(attrs - (unsigned char *)h);
      uint32_t id = 0;
      int have_id = 0;
      const unsigned char *payload = NULL;
      size_t plen = 0;
      for (struct nlattr *a = (struct nlattr *)attrs; alen >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= alen;
           alen -= NLA_ALIGN(a->nla_len), a = (struct nlattr *)((unsigned char *)a + NLA_ALIGN(a->nla_len))) {
        int type = a->nla_type & NLA_TYPE_MASK;
        if (type == NFQA_PACKET_HDR && a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr)) {
          id = ntohl(((struct nfqnl_msg_packet_hdr *)((unsigned char *)a + NLA_HDRLEN))->packet_id);
          have_id = 1;
        } else if (type == NFQA_PAYLOAD) {
          payload = (unsigned char *)a + NLA_HDRLEN;
          plen = a->nla_len - NLA_HDRLEN;
        }
      }
      if (!have_id) continue;
      napi_value jid, jbuf;
      napi_create_uint32(env, id, &jid);
      void *copy;
      napi_create_buffer_copy(env, plen, payload ? payload : (const unsigned char *)"", &copy, &jbuf);
      napi_set_element(env, ids, count, jid);
      napi_set_element(env, pkts, count, jbuf);
      count++;
    }
  }
  if (count > 0) {
    napi_value cb, global, argv[2] = {ids, pkts}, result;
    napi_get_reference_value(env, q->callback, &cb);
    napi_get_global(env, &global);
    napi_async_context ctx = NULL;
    napi_value resource_name;
    napi_create_string_utf8(env, "ferrolb.nfqueue", NAPI_AUTO_LENGTH, &resource_name);
    napi_async_init(env, NULL, resource_name, &ctx);
    napi_make_callback(env, ctx, global, cb, 2, argv, &result);
    napi_async_destroy(env, ctx);
  }
  napi_close_handle_scope(env, scope);
}

static void finalize_queue(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  queue_t *q = (queue_t *)data;
  if (!q->closed) {
    q->closed = 1;
    uv_poll_stop(&q->poll);
    close(q->fd);
  }
  /* The uv handle memory must outlive uv_close; leak-free enough for a process-lifetime object. */
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t queue;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &queue) != napi_ok || queue > 65535) THROW(env, "open(queueNum, onPackets)");
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) THROW(env, strerror(errno));
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(fd);
    THROW(env, strerror(errno));
  }
  int rcv = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
  struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_UNSPEC)};
  int r = config(fd, (uint16_t)queue, 1, NFQA_CFG_CMD, &cmd, sizeof cmd);
  struct nfqnl_msg_config_params params = {.copy_range = htonl(0xffff), .copy_mode = NFQNL_COPY_PACKET};
  if (r == 0) r = config(fd, (uint16_t)queue, 2, NFQA_CFG_PARAMS, &params, sizeof params);
  if (r != 0) {
    close(fd);
    THROW(env, strerror(-r));
  }
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
  queue_t *q = calloc(1, sizeof *q);
  q->buf = malloc(BUF_SIZE);
  q->fd = fd;
  q->queue = (uint16_t)queue;
  q->seq = 3;
  q->env = env;
  napi_create_reference(env, argv[1], 1, &q->callback);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &q->poll, fd);
  q->poll.data = q;
  uv_poll_start(&q->poll, UV_READABLE, on_readable);
  napi_value handle;
  napi_create_object(env, &handle);
  napi_wrap(env, handle, q, finalize_queue, NULL, NULL);
  return handle;
}

static queue_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_unwrap(env, v, &p) != napi_ok) return NULL;
  return (queue_t *)p;
}

static napi_value js_verdict(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  queue_t *q = argc >= 3 ? unwrap(env, argv[0]) : NULL;
  if (!q || q->closed) THROW(env, "verdict(handle, id, accept, payload?)");
  uint32_t id;
  bool accept;
  napi_get_value_uint32(env, argv[1], &id);
  napi_get_value_bool(env, argv[2], &accept);
  void *data = NULL;
  size_t dlen = 0;
  if (argc >= 4) {
    bool isbuf = false;
    napi_is_buffer(env, argv[3], &isbuf);
    if (isbuf) napi_get_buffer_info(env, argv[3], &data, &dlen);
  }
  if (dlen > 65535) THROW(env, "payload too large");
  /* Own buffer: verdicts are issued from inside the onPackets callback, while q->buf holds a batch. */
  static unsigned char msg[128 + 65536 + 64];
  size_t len = start_msg(msg, NFQNL_MSG_VERDICT, 0, q->queue, q->seq++);
  struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(accept ? NF_ACCEPT : NF_DROP), .id = htonl(id)};
  put_attr(msg, &len, NFQA_VERDICT_HDR, &vh, sizeof vh);
  if (dlen) put_attr(msg, &len, NFQA_PAYLOAD, data, dlen);
  int r = send_msg(q->fd, msg, len);
  if (r < 0) THROW(env, strerror(-r));
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  queue_t *q = argc >= 1 ? unwrap(env, argv[0]) : NULL;
  if (q && !q->closed) {
    q->closed = 1;
    uv_poll_stop(&q->poll);
    uv_close((uv_handle_t *)&q->poll, NULL);
    struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_UNBIND, .pf = htons(AF_UNSPEC)};
    unsigned char msg[128];
    size_t len = start_msg(msg, NFQNL_MSG_CONFIG, 0, q->queue, q->seq++);
    put_attr(msg, &len, NFQA_CFG_CMD, &cmd, sizeof cmd);
    send_msg(q->fd, msg, len);
    close(q->fd);
    napi_delete_reference(env, q->callback);
  }
  return NULL;
}

static napi_value js_send_raw(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t family;
  void *dst, *pkt;
  size_t dlen, plen;
  if (argc < 3 || napi_get_value_uint32(env, argv[0], &family) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &dst, &dlen) != napi_ok || napi_get_buffer_info(env, argv[2], &pkt, &plen) != napi_ok)
    THROW(env, "sendRaw(family, dst, packet)");
  ssize_t r;
  if (family == 4 && dlen == 4) {
    if (raw4 < 0) raw4 = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    memcpy(&sa.sin_addr, dst, 4);
    r = sendto(raw4, pkt, plen, 0, (struct sockaddr *)&sa, sizeof sa);
  } else if (family == 6 && dlen == 16) {
    if (raw6 < 0) raw6 = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    memcpy(&sa.sin6_addr, dst, 16);
    r = sendto(raw6, pkt, plen, 0, (struct sockaddr *)&sa, sizeof sa);
  } else
    THROW(env, "sendRaw: family/address mismatch");
  if (r < 0) THROW(env, strerror(errno));
  return NULL;
}

/* Layer 2 frame I/O (packet.c). */
void ferrolb_packet_init(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"verdict", NULL, js_verdict, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"sendRaw", NULL, js_send_raw, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  ferrolb_packet_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
