#include "faas/netlink.hpp"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/veth.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>

namespace faas::netlink {

namespace {

constexpr std::size_t kRecvBuf = 64 * 1024;

std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

}  // namespace

// ---- MsgBuilder ----

MsgBuilder::MsgBuilder(std::uint16_t type, std::uint16_t flags) {
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
  append(&h, sizeof h);
}

void MsgBuilder::append(const void* data, std::size_t len) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  buf_.insert(buf_.end(), p, p + len);
  pad();
}

void MsgBuilder::pad() {
  buf_.resize(align4(buf_.size()), 0);
  auto* h = reinterpret_cast<nlmsghdr*>(buf_.data());
  h->nlmsg_len = static_cast<std::uint32_t>(buf_.size());
}

void MsgBuilder::attr(std::uint16_t type, const void* data, std::size_t len) {
  rtattr a{};
  a.rta_type = type;
  a.rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
  const auto* ap = reinterpret_cast<const std::uint8_t*>(&a);
  buf_.insert(buf_.end(), ap, ap + sizeof a);
  if (len > 0) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    buf_.insert(buf_.end(), p, p + len);
  }
  pad();
}

void MsgBuilder::attr_str(std::uint16_t type, std::string_view s) {
  std::string z(s);
  attr(type, z.c_str(), z.size() + 1);
}

std::size_t MsgBuilder::nest_begin(std::uint16_t type) {
  std::size_t off = buf_.size();
  attr(static_cast<std::uint16_t>(type | NLA_F_NESTED), nullptr, 0);
  return off;
}

void MsgBuilder::nest_end(std::size_t offset) {
  auto* a = reinterpret_cast<rtattr*>(buf_.data() + offset);
  a->rta_len = static_cast<unsigned short>(buf_.size() - offset);
}

void MsgBuilder::add_flags(std::uint16_t flags) {
  reinterpret_cast<nlmsghdr*>(buf_.data())->nlmsg_flags |= flags;
}

void MsgBuilder::set_seq(std::uint32_t seq) {
  reinterpret_cast<nlmsghdr*>(buf_.data())->nlmsg_seq = seq;
}

std::uint16_t MsgBuilder::type() const {
  return reinterpret_cast<const nlmsghdr*>(buf_.data())->nlmsg_type;
}

// ---- parsing ----

std::optional<std::uint8_t> Attr::u8() const {
  if (data.size() < 1) return std::nullopt;
  return data[0];
}

std::optional<std::uint32_t> Attr::u32() const {
  if (data.size() < 4) return std::nullopt;
  std::uint32_t v;
  std::memcpy(&v, data.data(), 4);
  return v;
}

std::string Attr::str() const {
  std::string s(reinterpret_cast<const char*>(data.data()), data.size());
  auto nul = s.find('\0');
  if (nul != std::string::npos) s.resize(nul);
  return s;
}

Result<AttrTable> AttrTable::parse(Bytes payload, std::uint16_t max) {
  AttrTable t;
  t.index_.assign(static_cast<std::size_t>(max) + 1, -1);
  std::size_t off = 0;
  while (off + sizeof(rtattr) <= payload.size()) {
    rtattr a;
    std::memcpy(&a, payload.data() + off, sizeof a);
    if (a.rta_len < sizeof(rtattr) || off + a.rta_len > payload.size())
      return Error(Exit::data, "netlink attribute of length " + std::to_string(a.rta_len) +
                                   " overruns its message");
    Attr at;
    at.type = static_cast<std::uint16_t>(a.rta_type & NLA_TYPE_MASK);
    at.data = payload.subspan(off + sizeof(rtattr), a.rta_len - sizeof(rtattr));
    if (at.type <= max) t.index_[at.type] = static_cast<int>(t.all.size());
    t.all.push_back(at);
    off += align4(a.rta_len);
  }
  if (off < payload.size() && payload.size() - off >= sizeof(rtattr))
    return Error(Exit::data, "netlink attributes end mid-attribute");
  return t;
}

const Attr* AttrTable::get(std::uint16_t type) const {
  if (type >= index_.size() || index_[type] < 0) return nullptr;
  return &all[static_cast<std::size_t>(index_[type])];
}

Bytes payload_after(const nlmsghdr& h, std::size_t family_len) {
  const auto* base = static_cast<const std::uint8_t*>(NLMSG_DATA(&h));
  std::size_t start = NLMSG_ALIGN(family_len);
  std::size_t total = h.nlmsg_len - NLMSG_HDRLEN;
  if (start >= total) return {};
  return {base + start, total - start};
}

Result<void> for_each_message(Bytes buf, const std::function<Result<bool>(const nlmsghdr&)>& fn) {
  std::size_t off = 0;
  while (off + sizeof(nlmsghdr) <= buf.size()) {
    nlmsghdr h;
    std::memcpy(&h, buf.data() + off, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || off + h.nlmsg_len > buf.size())
      return Error(Exit::data, "truncated netlink message");
    // The receive buffer is aligned, so the message can be used in place.
    const auto* hp = reinterpret_cast<const nlmsghdr*>(buf.data() + off);
    FAAS_TRY_ASSIGN(bool more, fn(*hp));
    if (!more) return {};
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  if (off < buf.size()) return Error(Exit::data, "truncated netlink message");
  return {};
}

Result<int> error_code(const nlmsghdr& h) {
  FAAS_TRY_ASSIGN(nlmsgerr e, family_header<nlmsgerr>(h));
  return -e.error;
}

std::string message_name(std::uint16_t type) {
  switch (type) {
    case RTM_NEWLINK: return "RTM_NEWLINK";
    case RTM_DELLINK: return "RTM_DELLINK";
    case RTM_GETLINK: return "RTM_GETLINK";
    case RTM_NEWADDR: return "RTM_NEWADDR";
    case RTM_DELADDR: return "RTM_DELADDR";
    case RTM_GETADDR: return "RTM_GETADDR";
    case RTM_NEWROUTE: return "RTM_NEWROUTE";
    case RTM_DELROUTE: return "RTM_DELROUTE";
    case RTM_GETROUTE: return "RTM_GETROUTE";
    case RTM_NEWNEIGH: return "RTM_NEWNEIGH";
    case RTM_DELNEIGH: return "RTM_DELNEIGH";
    case RTM_GETNEIGH: return "RTM_GETNEIGH";
    default: return "netlink message " + std::to_string(type);
  }
}

namespace {

// The extended ack's message (NLMSGERR_ATTR_MSG), when the kernel sent one.
std::string ext_ack_message(const nlmsghdr& h) {
  if (!(h.nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  // With NETLINK_CAP_ACK the request is not echoed: TLVs follow nlmsgerr.
  auto tlvs = payload_after(h, sizeof(nlmsgerr));
  auto t = AttrTable::parse(tlvs, NLMSGERR_ATTR_MAX);
  if (!t) return {};
  if (const Attr* m = t->get(NLMSGERR_ATTR_MSG)) return m->str();
  return {};
}

}  // namespace

// ---- Socket ----

Result<Socket> Socket::open(std::uint32_t groups) {
  Socket s;
  s.fd_.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!s.fd_) return sys_error("rtnetlink socket");
  int one = 1;
  (void)::setsockopt(s.fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)::setsockopt(s.fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  if (groups != 0) {
    int size = 1 << 20;
    (void)::setsockopt(s.fd_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = groups;
  if (::bind(s.fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return sys_error("bind rtnetlink socket");
  socklen_t len = sizeof sa;
  if (::getsockname(s.fd_.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return sys_error("getsockname of rtnetlink socket");
  s.portid_ = sa.nl_pid;
  return s;
}

Result<void> Socket::send(MsgBuilder& m) {
  m.set_seq(++seq_);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  auto b = m.bytes();
  for (;;) {
    ssize_t n = ::sendto(fd_.get(), b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                         sizeof kernel);
    if (n >= 0) return {};
    if (errno != EINTR) return sys_error("send " + message_name(m.type()));
  }
}

Result<std::vector<std::uint8_t>> Socket::receive(int timeout_ms) {
  std::vector<std::uint8_t> buf(kRecvBuf);
  if (timeout_ms >= 0) {
    pollfd p{fd_.get(), POLLIN, 0};
    int r;
    do {
      r = ::poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return sys_error("poll rtnetlink socket");
    if (r == 0) return std::vector<std::uint8_t>{};
  }
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (n >= 0) {
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
    if (errno == EINTR) continue;
    if (errno == ENOBUFS) return sys_error("rtnetlink events lost", Exit::temp).with_status(Exit::temp);
    return sys_error("receive from rtnetlink socket");
  }
}

Result<void> Socket::request(MsgBuilder& m,
                             const std::function<Result<void>(const nlmsghdr&)>& on_reply) {
  m.add_flags(NLM_F_ACK);
  FAAS_TRY(send(m));
  const std::uint32_t seq = seq_;
  for (;;) {
    FAAS_TRY_ASSIGN(auto buf, receive(-1));
    std::optional<Error> failed;
    bool done = false;
    auto walked = for_each_message(buf, [&](const nlmsghdr& h) -> Result<bool> {
      if (h.nlmsg_seq != seq || h.nlmsg_pid != portid_) return true;
      if (h.nlmsg_type != NLMSG_ERROR) {
        if (on_reply && !failed) {
          auto r = on_reply(h);
          if (!r) failed = std::move(r).error();
        }
        return true;
      }
      FAAS_TRY_ASSIGN(int err, error_code(h));
      done = true;
      if (err != 0 && !failed) {
        std::string ext = ext_ack_message(h);
        failed = sys_error(err, message_name(m.type()) + (ext.empty() ? "" : " (" + ext + ")"));
      }
      return false;
    });
    if (!walked) return std::move(walked).error();
    if (failed) return std::move(*failed);
    if (done) return {};
  }
}

Result<void> Socket::dump(MsgBuilder& m, const std::function<Result<void>(const nlmsghdr&)>& fn) {
  FAAS_TRY(send(m));
  const std::uint32_t seq = seq_;
  for (;;) {
    FAAS_TRY_ASSIGN(auto buf, receive(-1));
    std::optional<Error> failed;
    bool done = false;
    auto walked = for_each_message(buf, [&](const nlmsghdr& h) -> Result<bool> {
      if (h.nlmsg_seq != seq || h.nlmsg_pid != portid_) return true;
      if (h.nlmsg_type == NLMSG_DONE) {
        done = true;
        return false;
      }
      if (h.nlmsg_type == NLMSG_ERROR) {
        FAAS_TRY_ASSIGN(int err, error_code(h));
        done = true;
        if (err != 0) failed = sys_error(err, message_name(m.type()) + " dump");
        return false;
      }
      auto r = fn(h);
      if (!r) {
        failed = std::move(r).error();
        return false;
      }
      return true;
    });
    if (!walked) return std::move(walked).error();
    if (failed) {
      // Drain the rest of the dump so the socket stays usable.
      while (!done) {
        auto more = receive(-1);
        if (!more) break;
        (void)for_each_message(*more, [&](const nlmsghdr& h) -> Result<bool> {
          if (h.nlmsg_seq == seq && (h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR))
            done = true;
          return !done;
        });
      }
      return std::move(*failed);
    }
    if (done) return {};
  }
}

// ---- values ----

std::string format_mac(const Mac& m) {
  char s[18];
  std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return s;
}

std::optional<Mac> parse_mac(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  Mac m{};
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && s[i * 3 - 1] != ':') return std::nullopt;
    unsigned v = 0;
    for (std::size_t j = 0; j < 2; ++j) {
      char c = s[i * 3 + j];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else return std::nullopt;
    }
    m[i] = static_cast<std::uint8_t>(v);
  }
  return m;
}

namespace {

std::string ip_text(int family, const std::vector<std::uint8_t>& raw) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET && raw.size() == 4) ::inet_ntop(AF_INET, raw.data(), buf, sizeof buf);
  else if (family == AF_INET6 && raw.size() == 16) ::inet_ntop(AF_INET6, raw.data(), buf, sizeof buf);
  return buf;
}

std::vector<std::uint8_t> to_vec(Bytes b) { return {b.begin(), b.end()}; }

}  // namespace

std::string Address::text() const {
  return ip_text(family, local) + "/" + std::to_string(prefix);
}

std::string Neighbour::ip() const { return ip_text(family, dst); }

// ---- builders ----

MsgBuilder build_new_bridge(std::string_view name, unsigned mtu) {
  MsgBuilder m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  m.header(ifi);
  m.attr_str(IFLA_IFNAME, name);
  if (mtu > 0) m.attr_u32(IFLA_MTU, mtu);
  auto li = m.nest_begin(IFLA_LINKINFO);
  m.attr_str(IFLA_INFO_KIND, "bridge");
  m.nest_end(li);
  return m;
}

MsgBuilder build_new_veth(std::string_view host, std::string_view peer, int peer_netns_fd,
                          unsigned mtu, int master, const std::optional<Mac>& peer_mac) {
  MsgBuilder m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  m.header(ifi);
  m.attr_str(IFLA_IFNAME, host);
  if (mtu > 0) m.attr_u32(IFLA_MTU, mtu);
  if (master > 0) m.attr_u32(IFLA_MASTER, static_cast<std::uint32_t>(master));
  auto li = m.nest_begin(IFLA_LINKINFO);
  m.attr_str(IFLA_INFO_KIND, "veth");
  auto data = m.nest_begin(IFLA_INFO_DATA);
  auto p = m.nest_begin(VETH_INFO_PEER);
  // The peer's ifinfomsg: not up here, as veth_open() fails with ENOTCONN
  // while the pair is still being linked; the caller brings it up.
  ifinfomsg peer_ifi{};
  peer_ifi.ifi_family = AF_UNSPEC;
  m.header(peer_ifi);
  m.attr_str(IFLA_IFNAME, peer);
  if (peer_netns_fd >= 0) m.attr_u32(IFLA_NET_NS_FD, static_cast<std::uint32_t>(peer_netns_fd));
  if (mtu > 0) m.attr_u32(IFLA_MTU, mtu);
  if (peer_mac) m.attr(IFLA_ADDRESS, peer_mac->data(), peer_mac->size());
  m.nest_end(p);
  m.nest_end(data);
  m.nest_end(li);
  return m;
}

MsgBuilder build_set_link(int index, bool up, unsigned mtu, const std::optional<Mac>& mac) {
  MsgBuilder m(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  ifi.ifi_flags = up ? IFF_UP : 0;
  ifi.ifi_change = IFF_UP;
  m.header(ifi);
  if (mtu > 0) m.attr_u32(IFLA_MTU, mtu);
  if (mac) m.attr(IFLA_ADDRESS, mac->data(), mac->size());
  return m;
}

MsgBuilder build_del_link(int index, std::string_view name) {
  MsgBuilder m(RTM_DELLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  m.header(ifi);
  if (index == 0 && !name.empty()) m.attr_str(IFLA_IFNAME, name);
  return m;
}

MsgBuilder build_addr(std::uint16_t type, int family, int index, Bytes addr, int prefix) {
  MsgBuilder m(type, type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<std::uint8_t>(family);
  ifa.ifa_prefixlen = static_cast<std::uint8_t>(prefix);
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = static_cast<std::uint32_t>(index);
  m.header(ifa);
  m.attr(IFA_LOCAL, addr.data(), addr.size());
  m.attr(IFA_ADDRESS, addr.data(), addr.size());
  return m;
}

MsgBuilder build_route4(std::uint16_t type, std::uint16_t flags, std::uint32_t dst_be, int dst_len,
                        std::uint32_t gw_be, int oif, std::uint8_t protocol) {
  MsgBuilder m(type, flags);
  rtmsg r{};
  r.rtm_family = AF_INET;
  r.rtm_dst_len = static_cast<std::uint8_t>(dst_len);
  r.rtm_table = RT_TABLE_MAIN;
  r.rtm_protocol = protocol;
  r.rtm_scope = RT_SCOPE_UNIVERSE;
  r.rtm_type = RTN_UNICAST;
  m.header(r);
  if (dst_len > 0) m.attr(RTA_DST, &dst_be, 4);
  if (gw_be != 0) m.attr(RTA_GATEWAY, &gw_be, 4);
  if (oif > 0) m.attr_u32(RTA_OIF, static_cast<std::uint32_t>(oif));
  return m;
}

MsgBuilder build_del_route(const Route& r) {
  MsgBuilder m(RTM_DELROUTE, 0);
  m.header(r.header);
  m.attr_u32(RTA_TABLE, r.table);
  if (!r.dst.empty()) m.attr(RTA_DST, r.dst.data(), r.dst.size());
  if (!r.gateway.empty()) m.attr(RTA_GATEWAY, r.gateway.data(), r.gateway.size());
  if (r.oif > 0) m.attr_u32(RTA_OIF, static_cast<std::uint32_t>(r.oif));
  if (r.priority) m.attr_u32(RTA_PRIORITY, *r.priority);
  return m;
}

MsgBuilder build_dump(std::uint16_t type, int family) {
  MsgBuilder m(type, NLM_F_DUMP);
  switch (type) {
    case RTM_GETLINK: {
      ifinfomsg i{};
      i.ifi_family = static_cast<unsigned char>(family);
      m.header(i);
      break;
    }
    case RTM_GETADDR: {
      ifaddrmsg i{};
      i.ifa_family = static_cast<std::uint8_t>(family);
      m.header(i);
      break;
    }
    case RTM_GETROUTE: {
      rtmsg i{};
      i.rtm_family = static_cast<unsigned char>(family);
      m.header(i);
      break;
    }
    default: {
      ndmsg i{};
      i.ndm_family = static_cast<std::uint8_t>(family);
      m.header(i);
      break;
    }
  }
  return m;
}

// ---- parsers ----

Result<Link> parse_link(const nlmsghdr& h) {
  FAAS_TRY_ASSIGN(ifinfomsg ifi, family_header<ifinfomsg>(h));
  FAAS_TRY_ASSIGN(auto t, AttrTable::parse(payload_after(h, sizeof ifi), IFLA_MAX));
  Link l;
  l.index = ifi.ifi_index;
  l.flags = ifi.ifi_flags;
  if (const Attr* a = t.get(IFLA_IFNAME)) l.name = a->str();
  if (const Attr* a = t.get(IFLA_MTU)) l.mtu = a->u32().value_or(0);
  if (const Attr* a = t.get(IFLA_MASTER)) l.master = static_cast<int>(a->u32().value_or(0));
  if (const Attr* a = t.get(IFLA_ADDRESS); a != nullptr && a->data.size() == 6) {
    Mac m;
    std::memcpy(m.data(), a->data.data(), 6);
    l.mac = m;
  }
  if (const Attr* a = t.get(IFLA_LINKINFO)) {
    FAAS_TRY_ASSIGN(auto info, AttrTable::parse(a->data, IFLA_INFO_MAX));
    if (const Attr* k = info.get(IFLA_INFO_KIND)) l.kind = k->str();
  }
  return l;
}

Result<Address> parse_address(const nlmsghdr& h) {
  FAAS_TRY_ASSIGN(ifaddrmsg ifa, family_header<ifaddrmsg>(h));
  FAAS_TRY_ASSIGN(auto t, AttrTable::parse(payload_after(h, sizeof ifa), IFA_MAX));
  Address a;
  a.family = ifa.ifa_family;
  a.index = static_cast<int>(ifa.ifa_index);
  a.prefix = ifa.ifa_prefixlen;
  a.scope = ifa.ifa_scope;
  if (const Attr* x = t.get(IFA_ADDRESS)) a.address = to_vec(x->data);
  if (const Attr* x = t.get(IFA_LOCAL)) a.local = to_vec(x->data);
  else a.local = a.address;
  return a;
}

Result<Route> parse_route(const nlmsghdr& h) {
  FAAS_TRY_ASSIGN(rtmsg rt, family_header<rtmsg>(h));
  FAAS_TRY_ASSIGN(auto t, AttrTable::parse(payload_after(h, sizeof rt), RTA_MAX));
  Route r;
  r.header = rt;
  r.table = rt.rtm_table;
  if (const Attr* a = t.get(RTA_TABLE)) r.table = a->u32().value_or(r.table);
  if (const Attr* a = t.get(RTA_OIF)) r.oif = static_cast<int>(a->u32().value_or(0));
  if (const Attr* a = t.get(RTA_PRIORITY)) r.priority = a->u32();
  if (const Attr* a = t.get(RTA_DST)) r.dst = to_vec(a->data);
  if (const Attr* a = t.get(RTA_GATEWAY)) r.gateway = to_vec(a->data);
  if (const Attr* a = t.get(RTA_PREFSRC)) r.prefsrc = to_vec(a->data);
  return r;
}

Result<Neighbour> parse_neighbour(const nlmsghdr& h) {
  FAAS_TRY_ASSIGN(ndmsg nd, family_header<ndmsg>(h));
  FAAS_TRY_ASSIGN(auto t, AttrTable::parse(payload_after(h, sizeof nd), NDA_MAX));
  Neighbour n;
  n.family = nd.ndm_family;
  n.index = nd.ndm_ifindex;
  n.state = nd.ndm_state;
  n.flags = nd.ndm_flags;
  if (const Attr* a = t.get(NDA_DST)) n.dst = to_vec(a->data);
  if (const Attr* a = t.get(NDA_LLADDR); a != nullptr && a->data.size() == 6) {
    Mac m;
    std::memcpy(m.data(), a->data.data(), 6);
    n.lladdr = m;
  }
  return n;
}

// ---- operations ----

namespace {

template <class T, class Parse>
Result<std::vector<T>> dump_all(Socket& s, std::uint16_t type, std::uint16_t reply, int family,
                                Parse parse) {
  std::vector<T> out;
  MsgBuilder m = build_dump(type, family);
  FAAS_TRY(s.dump(m, [&](const nlmsghdr& h) -> Result<void> {
    if (h.nlmsg_type != reply) return {};
    FAAS_TRY_ASSIGN(T v, parse(h));
    out.push_back(std::move(v));
    return {};
  }));
  return out;
}

}  // namespace

Result<std::vector<Link>> list_links(Socket& s) {
  return dump_all<Link>(s, RTM_GETLINK, RTM_NEWLINK, AF_UNSPEC, parse_link);
}

Result<std::optional<Link>> find_link(Socket& s, std::string_view name) {
  MsgBuilder m(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  m.header(ifi);
  m.attr_str(IFLA_IFNAME, name);
  std::optional<Link> found;
  auto r = s.request(m, [&](const nlmsghdr& h) -> Result<void> {
    if (h.nlmsg_type != RTM_NEWLINK) return {};
    FAAS_TRY_ASSIGN(Link l, parse_link(h));
    found = std::move(l);
    return {};
  });
  if (!r) {
    if (r.error().err() == ENODEV) return std::optional<Link>{};
    return std::move(r).error().wrap("find link " + q(name));
  }
  return found;
}

Result<std::vector<Address>> list_addresses(Socket& s, int family) {
  return dump_all<Address>(s, RTM_GETADDR, RTM_NEWADDR, family, parse_address);
}

Result<std::vector<Route>> list_routes(Socket& s, int family) {
  return dump_all<Route>(s, RTM_GETROUTE, RTM_NEWROUTE, family, parse_route);
}

Result<std::vector<Neighbour>> list_neighbours(Socket& s, int family) {
  return dump_all<Neighbour>(s, RTM_GETNEIGH, RTM_NEWNEIGH, family, parse_neighbour);
}

Result<int> create_bridge(Socket& s, std::string_view name, unsigned mtu) {
  MsgBuilder m = build_new_bridge(name, mtu);
  FAAS_TRY_CTX(s.request(m), "create bridge " + q(name));
  FAAS_TRY_ASSIGN(auto l, find_link(s, name));
  if (!l) return Error(Exit::software, "bridge " + q(name) + " vanished after its creation");
  return l->index;
}

Result<void> create_veth(Socket& s, std::string_view host, std::string_view peer, int peer_netns_fd,
                         unsigned mtu, int master, const std::optional<Mac>& peer_mac) {
  MsgBuilder m = build_new_veth(host, peer, peer_netns_fd, mtu, master, peer_mac);
  FAAS_TRY_CTX(s.request(m), "create veth " + q(host));
  return {};
}

Result<void> set_link(Socket& s, int index, bool up, unsigned mtu, const std::optional<Mac>& mac) {
  MsgBuilder m = build_set_link(index, up, mtu, mac);
  FAAS_TRY_CTX(s.request(m), "set link " + std::to_string(index));
  return {};
}

Result<void> delete_link(Socket& s, int index, std::string_view name) {
  MsgBuilder m = build_del_link(index, name);
  FAAS_TRY_CTX(s.request(m), "delete link " + (name.empty() ? std::to_string(index) : q(name)));
  return {};
}

Result<bool> delete_link_named(Socket& s, std::string_view name) {
  MsgBuilder m = build_del_link(0, name);
  auto r = s.request(m);
  if (r) return true;
  if (r.error().err() == ENODEV) return false;
  return std::move(r).error().wrap("delete link " + q(name));
}

Result<void> add_address4(Socket& s, int index, std::uint32_t addr_be, int prefix) {
  MsgBuilder m = build_addr(RTM_NEWADDR, AF_INET, index,
                            Bytes(reinterpret_cast<const std::uint8_t*>(&addr_be), 4), prefix);
  FAAS_TRY_CTX(s.request(m), "add address " + ip_text(AF_INET, {reinterpret_cast<const std::uint8_t*>(&addr_be),
                                                              reinterpret_cast<const std::uint8_t*>(&addr_be) + 4}) +
                                 "/" + std::to_string(prefix));
  return {};
}

Result<void> delete_address(Socket& s, const Address& a) {
  MsgBuilder m(RTM_DELADDR, 0);
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<std::uint8_t>(a.family);
  ifa.ifa_prefixlen = static_cast<std::uint8_t>(a.prefix);
  ifa.ifa_index = static_cast<std::uint32_t>(a.index);
  m.header(ifa);
  if (!a.local.empty()) m.attr(IFA_LOCAL, a.local.data(), a.local.size());
  if (!a.address.empty()) m.attr(IFA_ADDRESS, a.address.data(), a.address.size());
  FAAS_TRY_CTX(s.request(m), "delete address " + a.text());
  return {};
}

Result<void> replace_default_route4(Socket& s, std::uint32_t gw_be, int oif, std::uint8_t protocol) {
  MsgBuilder m = build_route4(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, 0, 0, gw_be, oif, protocol);
  FAAS_TRY_CTX(s.request(m), "add default route");
  return {};
}

Result<void> delete_route(Socket& s, const Route& r) {
  MsgBuilder m = build_del_route(r);
  auto res = s.request(m);
  if (!res && res.error().err() == ESRCH) return {};  // gone with its address or link
  FAAS_TRY_CTX(std::move(res), "delete route");
  return {};
}

}  // namespace faas::netlink
