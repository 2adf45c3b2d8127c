#include "faas/scm_rights.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "faas/wire.h"
#include "test_util.hpp"

namespace faas {
namespace {

class ScmRights : public ::testing::Test {
 protected:
  void SetUp() override { open_pair(SOCK_STREAM); }
  void open_pair(int type) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0) << std::strerror(errno);
    a_.reset(sv[0]);
    b_.reset(sv[1]);
  }
  Fd a_, b_;
};

TEST_F(ScmRights, RoundTrip) {
  auto p1 = test::make_pipe();
  auto p2 = test::make_pipe();
  std::array<int, 2> fds{p1.wr.get(), p2.wr.get()};
  ASSERT_TRUE(send_fds(a_.get(), fds, R"({"request_id":"r1"})").ok());
  auto msg = recv_fds(b_.get());
  ASSERT_TRUE(msg.ok()) << msg.error().what();
  EXPECT_EQ(msg->payload, R"({"request_id":"r1"})");
  ASSERT_EQ(msg->fds.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(::fcntl(msg->fds[i].get(), F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(::write(msg->fds[i].get(), "k", 1), 1);
  }
  char ch = 0;
  EXPECT_EQ(::read(p1.rd.get(), &ch, 1), 1);
  EXPECT_EQ(::read(p2.rd.get(), &ch, 1), 1);
}

TEST_F(ScmRights, EmptyPayloadComesBackEmpty) {
  int fd = a_.get();
  ASSERT_TRUE(send_fds(a_.get(), std::span<const int>(&fd, 1)).ok());
  auto msg = recv_fds(b_.get());
  ASSERT_TRUE(msg.ok()) << msg.error().what();
  EXPECT_EQ(msg->payload, "");
  EXPECT_EQ(msg->fds.size(), 1u);
}

TEST_F(ScmRights, ReceivedFdsAreOwned) {
  const int before = test::count_open_fds();
  {
    int fd = a_.get();
    std::array<int, 3> fds{fd, fd, fd};
    ASSERT_TRUE(send_fds(a_.get(), fds, "x").ok());
    auto msg = recv_fds(b_.get(), 2);  // the third is closed on arrival
    ASSERT_TRUE(msg.ok()) << msg.error().what();
    EXPECT_EQ(msg->fds.size(), 2u);
    EXPECT_EQ(test::count_open_fds(), before + 2);
  }
  EXPECT_EQ(test::count_open_fds(), before);  // Fd closed them
}

TEST_F(ScmRights, NoFdIsBadData) {
  ASSERT_EQ(::send(a_.get(), "{}", 2, 0), 2);
  auto msg = recv_fds(b_.get());
  ASSERT_FALSE(msg.ok());
  EXPECT_EQ(msg.error().status(), Exit::data);
  EXPECT_NE(msg.error().what().find("no file descriptor"), std::string::npos)
      << msg.error().what();
}

TEST_F(ScmRights, ClosedPeerIsIo) {
  a_.reset();
  auto msg = recv_fds(b_.get());
  ASSERT_FALSE(msg.ok());
  EXPECT_EQ(msg.error().status(), Exit::io);
}

TEST_F(ScmRights, TooBigPayloadIsBadData) {
  open_pair(SOCK_SEQPACKET);
  int fd = a_.get();
  const std::string big(FAAS_WIRE_MAX_PAYLOAD + 10, 'b');
  // Raw sendmsg: send_fds itself refuses such a payload.
  char cbuf[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{const_cast<char*>(big.data()), big.size()};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ASSERT_EQ(::sendmsg(a_.get(), &m, 0), static_cast<ssize_t>(big.size()));
  const int before = test::count_open_fds();
  auto msg = recv_fds(b_.get());
  ASSERT_FALSE(msg.ok());
  EXPECT_EQ(msg.error().status(), Exit::data);
  EXPECT_EQ(test::count_open_fds(), before);
}

TEST_F(ScmRights, SystemErrorsKeepErrno) {
  auto p = test::make_pipe();
  int fd = p.wr.get();
  auto r = send_fds(p.rd.get(), std::span<const int>(&fd, 1), "x");  // not a socket
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err(), ENOTSOCK);
  EXPECT_EQ(r.error().status(), Exit::os);
  EXPECT_EQ(r.error().what(), std::string("send fds: ") + std::strerror(ENOTSOCK));

  // A non-blocking socket with nothing to read: temporary.
  ASSERT_EQ(::fcntl(b_.get(), F_SETFL, O_NONBLOCK), 0);
  auto m = recv_fds(b_.get());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().err(), EAGAIN);
  EXPECT_EQ(m.error().status(), Exit::temp);
}

TEST_F(ScmRights, CallerBugsAreSoftware) {
  auto p = test::make_pipe();
  EXPECT_EQ(send_fds(a_.get(), {}, "x").error().status(), Exit::software);
  std::array<int, FAAS_WIRE_MAX_FDS + 1> many{};
  many.fill(p.wr.get());
  EXPECT_EQ(send_fds(a_.get(), many, "x").error().status(), Exit::software);
  int fd = p.wr.get();
  EXPECT_EQ(send_fds(a_.get(), std::span<const int>(&fd, 1),
                     std::string(FAAS_WIRE_MAX_PAYLOAD + 1, 'x'))
                .error()
                .status(),
            Exit::software);
  EXPECT_EQ(recv_fds(b_.get(), 0).error().status(), Exit::software);
}

}  // namespace
}  // namespace faas
