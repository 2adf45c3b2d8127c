#include "pending.hpp"

namespace faas::bench {
namespace {

class PendingScenario final : public Scenario {
 public:
  PendingScenario(std::string name, std::string summary)
      : name_(std::move(name)), summary_(std::move(summary)) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override { return summary_; }
  std::vector<Variant> variants(const Context&) override {
    Variant v;
    v.name = name_;
    v.skipped = "not implemented yet";
    std::vector<Variant> out;
    out.push_back(std::move(v));
    return out;
  }
  Result<void> prepare(const Context&) override { return {}; }
  Result<std::uint64_t> once(const Variant&) override {
    return Error(Exit::unavailable, "scenario " + name_ + " is not implemented yet");
  }

 private:
  std::string name_, summary_;
};

}  // namespace

std::unique_ptr<Scenario> make_pending_scenario(std::string name, std::string summary) {
  return std::make_unique<PendingScenario>(std::move(name), std::move(summary));
}

}  // namespace faas::bench
