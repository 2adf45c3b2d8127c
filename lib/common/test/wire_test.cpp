#include "faas/wire.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace faas {
namespace {

using test::count_open_fds;

std::string get(const char* json, const char* key, size_t cap = 256, int* rc_out = nullptr) {
  std::vector<char> out(cap > 0 ? cap : 1, '#');
  int rc = faas_wire_json_get(json, key, out.data(), cap);
  if (rc_out != nullptr) *rc_out = rc;
  if (rc < 0) return "<" + std::to_string(rc) + ">";
  EXPECT_EQ(static_cast<size_t>(rc), std::strlen(out.data()));
  return std::string(out.data(), static_cast<size_t>(rc));
}

TEST(WireJson, StringsNumbersAndEscapes) {
  const char* j = R"({"request_id":"r-1","deadline_ms":1500,"neg":-2.5e3,)"
                  R"("root":"/a\"b\\c\/d\ne\tf","t":true})";
  EXPECT_EQ(get(j, "request_id"), "r-1");
  EXPECT_EQ(get(j, "deadline_ms"), "1500");
  EXPECT_EQ(get(j, "neg"), "-2.5e3");
  EXPECT_EQ(get(j, "root"), "/a\"b\\c/d\ne\tf");
  EXPECT_EQ(get(j, "t"), "true");
}

TEST(WireJson, WhitespaceAndEmptyString) {
  EXPECT_EQ(get(" \n{ \"a\" :\t12 , \"b\" : \"\" }\n", "a"), "12");
  int rc = 99;
  EXPECT_EQ(get(R"({"a":1,"b":""})", "b", 8, &rc), "");
  EXPECT_EQ(rc, 0);
}

TEST(WireJson, MissingKey) {
  EXPECT_EQ(get(R"({"a":"1","b":2})", "c"), "<-1>");
  EXPECT_EQ(get("{}", "a"), "<-1>");
  // A key is matched whole, not as a prefix or suffix.
  EXPECT_EQ(get(R"({"ab":"1","xa":"2"})", "a"), "<-1>");
  // A value that looks like the key is not the key.
  EXPECT_EQ(get(R"({"x":"a","y":"b"})", "a"), "<-1>");
}

TEST(WireJson, Malformed) {
  for (const char* bad : {"", "not json", "[\"a\",1]", R"({"a" 1})", R"({"a":"open)",
                          R"({a:1})", R"({"a":})", R"({"x":1 "a":2})", R"({"a":"\u0041"})",
                          "{\"a\":\"ctl\x01\"}"}) {
    EXPECT_EQ(get(bad, "a"), "<-1>") << bad;
  }
  char out[8];
  EXPECT_EQ(faas_wire_json_get(nullptr, "a", out, sizeof out), -1);
  EXPECT_EQ(faas_wire_json_get("{}", nullptr, out, sizeof out), -1);
  EXPECT_EQ(faas_wire_json_get(R"({"a":1})", "a", out, 0), -1);
}

TEST(WireJson, NestedValuesAreRefused) {
  EXPECT_EQ(get(R"({"a":{"b":1}})", "a"), "<-1>");
  EXPECT_EQ(get(R"({"a":[1,2]})", "a"), "<-1>");
  // The format is flat: nesting anywhere makes the object unreadable.
  EXPECT_EQ(get(R"({"x":{"y":1},"a":"v"})", "a"), "<-1>");
}

TEST(WireJson, TooLongForCap) {
  EXPECT_EQ(get(R"({"a":"abcdef"})", "a", 6), "<-1>");  // needs 7 with the NUL
  EXPECT_EQ(get(R"({"a":"abcdef"})", "a", 7), "abcdef");
  EXPECT_EQ(get(R"({"n":123456})", "n", 6), "<-1>");
  EXPECT_EQ(get(R"({"n":123456})", "n", 7), "123456");
  // A long value of another key does not matter.
  EXPECT_EQ(get(R"({"x":"very long indeed","n":1})", "n", 2), "1");
}

class WireSocket : public ::testing::Test {
 protected:
  void open_pair(int type) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0) << std::strerror(errno);
    a_.reset(sv[0]);
    b_.reset(sv[1]);
  }
  void SetUp() override { open_pair(SOCK_STREAM); }

  // Receives with room for FAAS_WIRE_MAX_FDS fds.
  int recv(size_t max_fds = FAAS_WIRE_MAX_FDS, size_t cap = FAAS_WIRE_MAX_PAYLOAD + 1) {
    fds_.assign(FAAS_WIRE_MAX_FDS, -1);
    payload_.assign(cap, '\0');
    nfds_ = 99;
    len_ = 99;
    return faas_wire_recv(b_.get(), fds_.data(), max_fds, &nfds_, payload_.data(), cap, &len_);
  }
  void close_received() {
    for (size_t i = 0; i < nfds_ && i < fds_.size(); ++i) ::close(fds_[i]);
    nfds_ = 0;
  }
  std::string payload() const { return std::string(payload_.data(), len_); }

  Fd a_, b_;
  std::vector<int> fds_;
  std::vector<char> payload_;
  size_t nfds_ = 0, len_ = 0;
};

// Writes through a received pipe end and reads it back on ours: proof that
// the fd refers to the very same pipe.
void expect_same_pipe(int received_wr, int our_rd, const std::string& text) {
  ASSERT_EQ(::write(received_wr, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  std::string got(text.size(), '\0');
  ASSERT_EQ(::read(our_rd, got.data(), got.size()), static_cast<ssize_t>(text.size()));
  EXPECT_EQ(got, text);
}

TEST_F(WireSocket, OneFdAndPayload) {
  auto p = test::make_pipe();
  const std::string body = R"({"request_id":"r-7","deadline_ms":250})";
  int fd = p.wr.get();
  ASSERT_EQ(faas_wire_send(a_.get(), &fd, 1, body.data(), body.size()), 0);
  ASSERT_EQ(recv(), 0);
  ASSERT_EQ(nfds_, 1u);
  EXPECT_EQ(payload(), body);
  EXPECT_EQ(payload_[len_], '\0');  // NUL-terminated for the C side
  EXPECT_NE(fds_[0], fd);
  // O_CLOEXEC: a received client fd must not leak into unrelated children.
  EXPECT_TRUE(::fcntl(fds_[0], F_GETFD) & FD_CLOEXEC);
  expect_same_pipe(fds_[0], p.rd.get(), "hello");
  char id[16];
  EXPECT_EQ(faas_wire_json_get(payload_.data(), "request_id", id, sizeof id), 3);
  EXPECT_STREQ(id, "r-7");
  close_received();
}

TEST_F(WireSocket, ThreeFds) {
  test::Pipe pipes[3] = {test::make_pipe(), test::make_pipe(), test::make_pipe()};
  int fds[3] = {pipes[0].wr.get(), pipes[1].wr.get(), pipes[2].wr.get()};
  ASSERT_EQ(faas_wire_send(a_.get(), fds, 3, "x", 1), 0);
  ASSERT_EQ(recv(), 0);
  ASSERT_EQ(nfds_, 3u);
  EXPECT_EQ(payload(), "x");
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(::fcntl(fds_[i], F_GETFD) & FD_CLOEXEC);
    expect_same_pipe(fds_[i], pipes[i].rd.get(), "p" + std::to_string(i));  // order kept
  }
  close_received();
}

TEST_F(WireSocket, EmptyPayloadSendsOneNul) {
  int fd = a_.get();
  ASSERT_EQ(faas_wire_send(a_.get(), &fd, 1, nullptr, 0), 0);
  ASSERT_EQ(recv(), 0);
  EXPECT_EQ(nfds_, 1u);
  EXPECT_EQ(len_, 1u);
  EXPECT_EQ(payload_[0], '\0');
  close_received();
}

TEST_F(WireSocket, MessagesStaySeparateOnAStream) {
  auto p = test::make_pipe();
  int fd = p.wr.get();
  ASSERT_EQ(faas_wire_send(a_.get(), &fd, 1, "first", 5), 0);
  ASSERT_EQ(faas_wire_send(a_.get(), &fd, 1, "second", 6), 0);
  ASSERT_EQ(recv(), 0);
  EXPECT_EQ(payload(), "first");
  EXPECT_EQ(nfds_, 1u);
  close_received();
  ASSERT_EQ(recv(), 0);
  EXPECT_EQ(payload(), "second");
  EXPECT_EQ(nfds_, 1u);
  close_received();
}

TEST_F(WireSocket, MessageWithoutFd) {
  ASSERT_EQ(::send(a_.get(), "{}", 2, 0), 2);
  EXPECT_EQ(recv(), FAAS_WIRE_ENOFD);
  EXPECT_EQ(nfds_, 0u);
}

TEST_F(WireSocket, PeerClosed) {
  a_.reset();
  EXPECT_EQ(recv(), FAAS_WIRE_EEOF);
  EXPECT_EQ(nfds_, 0u);
}

TEST_F(WireSocket, TruncatedControlDataLeaksNoFd) {
  auto p = test::make_pipe();
  constexpr int kMany = 24;  // more than FAAS_WIRE_MAX_FDS
  static_assert(kMany > FAAS_WIRE_MAX_FDS);
  int fds[kMany];
  for (int& fd : fds) fd = p.wr.get();  // the same fd 24 times: 24 new fds on arrival
  union {
    char buf[CMSG_SPACE(sizeof fds)];
    cmsghdr align;
  } u{};
  char byte = 'x';
  iovec iov{&byte, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  ASSERT_EQ(::sendmsg(a_.get(), &msg, 0), 1) << std::strerror(errno);

  const int before = count_open_fds();
  EXPECT_EQ(recv(), FAAS_WIRE_ETRUNC);
  EXPECT_EQ(nfds_, 0u);
  EXPECT_EQ(count_open_fds(), before);
  // The pipe's only write end left was ours: closing it gives EOF (not
  // EAGAIN, which would mean a leaked copy still holds it open).
  p.wr.reset();
  ASSERT_EQ(::fcntl(p.rd.get(), F_SETFL, O_NONBLOCK), 0);
  char ch;
  EXPECT_EQ(::read(p.rd.get(), &ch, 1), 0) << std::strerror(errno);
}

TEST_F(WireSocket, ExtraFdsBeyondMaxAreClosed) {
  auto p = test::make_pipe();
  int fds[3] = {p.wr.get(), p.wr.get(), p.wr.get()};
  ASSERT_EQ(faas_wire_send(a_.get(), fds, 3, "x", 1), 0);
  const int before = count_open_fds();
  ASSERT_EQ(recv(1), 0);
  ASSERT_EQ(nfds_, 1u);
  EXPECT_EQ(count_open_fds(), before + 1);
  close_received();
  EXPECT_EQ(count_open_fds(), before);
}

TEST_F(WireSocket, PayloadTooBigClosesFds) {
  // Only a message-preserving socket can tell a truncated payload.
  open_pair(SOCK_SEQPACKET);
  auto p = test::make_pipe();
  int fds[2] = {p.wr.get(), p.rd.get()};
  const std::string big(100, 'z');
  ASSERT_EQ(faas_wire_send(a_.get(), fds, 2, big.data(), big.size()), 0);
  const int before = count_open_fds();
  EXPECT_EQ(recv(FAAS_WIRE_MAX_FDS, 16), FAAS_WIRE_ETOOBIG);
  EXPECT_EQ(nfds_, 0u);
  EXPECT_EQ(count_open_fds(), before);
}

TEST_F(WireSocket, SeqpacketRoundTrip) {
  open_pair(SOCK_SEQPACKET);
  int fd = a_.get();
  const std::string body(FAAS_WIRE_MAX_PAYLOAD, 'q');
  ASSERT_EQ(faas_wire_send(a_.get(), &fd, 1, body.data(), body.size()), 0);
  ASSERT_EQ(recv(), 0);
  EXPECT_EQ(payload(), body);
  close_received();
}

TEST_F(WireSocket, SendRefusesBadArguments) {
  auto p = test::make_pipe();
  int fd = p.wr.get();
  EXPECT_EQ(faas_wire_send(a_.get(), &fd, 0, "x", 1), -EINVAL);
  std::vector<int> many(FAAS_WIRE_MAX_FDS + 1, fd);
  EXPECT_EQ(faas_wire_send(a_.get(), many.data(), many.size(), "x", 1), -EINVAL);
  const std::string big(FAAS_WIRE_MAX_PAYLOAD + 1, 'b');
  EXPECT_EQ(faas_wire_send(a_.get(), &fd, 1, big.data(), big.size()), -EMSGSIZE);
  EXPECT_EQ(faas_wire_send(p.rd.get(), &fd, 1, "x", 1), -ENOTSOCK);
}

TEST_F(WireSocket, SendToClosedPeerIsEpipe) {
  b_.reset();
  int fd = a_.get();
  // MSG_NOSIGNAL: an error code, not a SIGPIPE killing the sender.
  EXPECT_EQ(faas_wire_send(a_.get(), &fd, 1, "x", 1), -EPIPE);
}

TEST(WireStrerror, Texts) {
  EXPECT_STREQ(faas_wire_strerror(FAAS_WIRE_ENOFD), "message carried no file descriptor");
  EXPECT_STREQ(faas_wire_strerror(-ENOENT), std::strerror(ENOENT));
  EXPECT_STREQ(faas_wire_strerror(0), "success");
}

}  // namespace
}  // namespace faas
