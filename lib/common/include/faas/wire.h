/* The control-socket wire format, in C-compatible code so that faas-init
 * (built with no C++ runtime) and lib/common share one implementation.
 *
 * One message = one sendmsg(2) on a unix stream or seqpacket socket:
 *   ancillary data: SCM_RIGHTS with 1..FAAS_WIRE_MAX_FDS file descriptors;
 *   data: a payload of 1..FAAS_WIRE_MAX_PAYLOAD bytes. When it starts with
 *         '{' it is a flat JSON object (request_id, deadline_ms, root, names);
 *         otherwise it is ignored (the original design's server sends a single
 *         byte).
 *
 * On SOCK_STREAM (the original design's control socket) message boundaries do
 * not exist: a payload longer than the receiver's buffer cannot be told from
 * two messages, so FAAS_WIRE_ETOOBIG is reported only on SOCK_SEQPACKET, and
 * a stream sender must keep to FAAS_WIRE_MAX_PAYLOAD (faas_wire_send does).
 *
 * Functions return 0 or a negative errno-style code; FAAS_WIRE_E* give the
 * protocol failures that have no errno. Received fds are O_CLOEXEC; on any
 * failure every fd that arrived is closed. */
#ifndef FAAS_WIRE_H
#define FAAS_WIRE_H

#include <stddef.h>

#define FAAS_WIRE_MAX_FDS 16
#define FAAS_WIRE_MAX_PAYLOAD 4096

/* Protocol errors (negative, outside errno's range). */
#define FAAS_WIRE_ENOFD (-1001)     /* message carried no fd */
#define FAAS_WIRE_ETRUNC (-1002)    /* control data truncated (MSG_CTRUNC) */
#define FAAS_WIRE_ETOOBIG (-1003)   /* payload truncated (MSG_TRUNC) */
#define FAAS_WIRE_EEOF (-1004)      /* peer closed before sending */
#define FAAS_WIRE_ENOTSOCK (-1005)  /* a received fd is not a socket (when required) */
#define FAAS_WIRE_EFEWFDS (-1006)   /* fewer fds than required */

#ifdef __cplusplus
extern "C" {
#endif

/* Sends nfds fds and payload (len may be 0: one '\0' byte is sent then). */
int faas_wire_send(int sock, const int* fds, size_t nfds, const char* payload,
                   size_t len);

/* Receives one message. fds gets up to max_fds descriptors (*nfds set),
 * payload up to cap-1 bytes, NUL-terminated (*len set). Retries EINTR. */
int faas_wire_recv(int sock, int* fds, size_t max_fds, size_t* nfds,
                   char* payload, size_t cap, size_t* len);

/* A static English text for a FAAS_WIRE_E* code or -errno. */
const char* faas_wire_strerror(int code);

/* Finds "key": in a flat JSON object and copies its string or number value
 * (unquoted, escapes \" \\ \/ \n \t decoded) into out. Returns the length, or
 * -1 when absent or malformed or longer than cap-1. */
int faas_wire_json_get(const char* json, const char* key, char* out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
