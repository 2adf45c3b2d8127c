#include "faas/ksm.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include "fake_tree.hpp"

namespace faas {

namespace {

void put_ksm(const test::FakeTree& t, bool with_profit) {
  const std::pair<const char*, const char*> files[] = {
      {"run", "1"},           {"pages_to_scan", "100"}, {"sleep_millisecs", "20"},
      {"pages_shared", "50"}, {"pages_sharing", "350"}, {"pages_unshared", "1000"},
      {"pages_volatile", "7"}, {"full_scans", "3"},
  };
  for (auto [k, v] : files) t.put(std::string("kernel/mm/ksm/") + k, std::string(v) + "\n");
  if (with_profit) t.put("kernel/mm/ksm/general_profit", "1400000\n");
}

MemInfo mem(std::int64_t total, std::int64_t free, std::int64_t avail) {
  MemInfo m;
  m.total_kb = total;
  m.free_kb = free;
  m.available_kb = avail;
  return m;
}

}  // namespace

TEST(Ksm, ReadsCountersAndDerivesSavingAndRatio) {
  test::FakeTree t;
  put_ksm(t, true);
  auto k = read_ksm(Sysfs(t.root()));
  ASSERT_TRUE(k) << k.error().what();
  EXPECT_EQ(k->run, 1);
  EXPECT_EQ(k->pages_sharing, 350);
  EXPECT_EQ(k->saved_bytes(), 350 * k->page_size);
  EXPECT_DOUBLE_EQ(k->ratio(), 7.0);
  Json j = ksm_json(*k);
  for (const char* key : {"run", "pages_to_scan", "sleep_millisecs", "pages_shared", "pages_sharing",
                          "pages_unshared", "pages_volatile", "general_profit", "full_scans",
                          "saved_bytes", "ratio"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["general_profit"], 1400000);
}

TEST(Ksm, GeneralProfitIsNullOnOlderKernels) {
  test::FakeTree t;
  put_ksm(t, false);
  auto k = read_ksm(Sysfs(t.root()));
  ASSERT_TRUE(k);
  EXPECT_TRUE(ksm_json(*k)["general_profit"].is_null());
}

TEST(Ksm, MissingKsmIsUnavailable) {
  test::FakeTree t;
  auto k = read_ksm(Sysfs(t.root()));
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().status(), Exit::unavailable);
}

TEST(Ksm, ParsesMeminfo) {
  auto m = parse_meminfo("MemTotal:       24684084 kB\nMemFree:        23103268 kB\n"
                         "MemAvailable:   23373060 kB\nBuffers:            3468 kB\n"
                         "Cached:           448292 kB\nSwapCached:            0 kB\n");
  ASSERT_TRUE(m) << m.error().what();
  EXPECT_EQ(m->total_kb, 24684084);
  EXPECT_EQ(m->cached_kb, 448292);
  EXPECT_FALSE(parse_meminfo("MemFree: 1 kB\n"));
  EXPECT_FALSE(parse_meminfo("MemTotal: lots kB\n"));
}

TEST(KsmTune, StopsWhenMemoryIsPlentiful) {
  KsmStatus k;
  k.run = 1;
  k.pages_to_scan = 100;
  k.sleep_millisecs = 20;
  auto d = ksm_tune_decide({}, mem(16 * 1024 * 1024, 15 * 1024 * 1024, 15 * 1024 * 1024), k);
  EXPECT_EQ(d.run, 0);
  EXPECT_EQ(d.reason, "idle");
  EXPECT_EQ(d.pages_to_scan, 100);
  EXPECT_EQ(d.thres_kb, 16 * 1024 * 1024 / 5);
}

TEST(KsmTune, BoostsUnderPressureAndClamps) {
  KsmStatus k;
  k.pages_to_scan = 1200;
  // 16 GiB, 1 GiB free (< 20% threshold): boost by 300, clamped at 1250.
  auto d = ksm_tune_decide({}, mem(16 * 1024 * 1024, 1024 * 1024, 1024 * 1024), k);
  EXPECT_EQ(d.run, 1);
  EXPECT_EQ(d.reason, "boost");
  EXPECT_EQ(d.pages_to_scan, 1250);
  EXPECT_EQ(d.sleep_millisecs, 10);  // 10 ms per 16 GiB
}

TEST(KsmTune, DecaysWhenCommittedButFreeAndScalesSleep) {
  KsmStatus k;
  k.pages_to_scan = 100;
  // 4 GiB, committed 3.5 GiB, yet 2 GiB free+cache (> 20%): decay 50, min 64.
  MemInfo m = mem(4 * 1024 * 1024, 2 * 1024 * 1024, 512 * 1024);
  auto d = ksm_tune_decide({}, m, k);
  EXPECT_EQ(d.run, 1);
  EXPECT_EQ(d.reason, "decay");
  EXPECT_EQ(d.pages_to_scan, 64);
  EXPECT_EQ(d.sleep_millisecs, 40);  // 10 ms * 16 GiB / 4 GiB
}

TEST(KsmTune, LowDedupRatioDecaysInsteadOfBoosting) {
  KsmStatus k;
  k.run = 1;
  k.pages_to_scan = 500;
  k.full_scans = 4;
  k.pages_shared = 100;
  k.pages_sharing = 110;  // 1.1 < 1.5
  auto d = ksm_tune_decide({}, mem(16 * 1024 * 1024, 1024 * 1024, 1024 * 1024), k);
  EXPECT_EQ(d.reason, "low_ratio");
  EXPECT_EQ(d.pages_to_scan, 450);
  k.full_scans = 1;  // too early to judge
  EXPECT_EQ(ksm_tune_decide({}, mem(16 * 1024 * 1024, 1024 * 1024, 1024 * 1024), k).reason, "boost");
}

TEST(Ksm, SavesAndRestoresTheTunablesRunLast) {
  test::FakeTree t;
  put_ksm(t, false);
  t.put("kernel/mm/ksm/smart_scan", "1\n");
  t.put("kernel/mm/ksm/advisor_mode", "[none] scan-time\n");
  Sysfs sys(t.root());
  auto saved = save_ksm_knobs(sys);
  ASSERT_TRUE(saved) << saved.error().what();
  ASSERT_NE(saved->find("advisor_mode"), nullptr);
  EXPECT_EQ(*saved->find("advisor_mode"), "none");  // the selected word
  EXPECT_EQ(*saved->find("pages_to_scan"), "100");
  EXPECT_EQ(saved->find("max_page_sharing"), nullptr);  // this kernel lacks it

  // Nothing changed: nothing written.
  auto same = restore_ksm_knobs(sys, *saved);
  ASSERT_TRUE(same) << same.error().what();
  EXPECT_TRUE(same->empty());

  t.put("kernel/mm/ksm/run", "0\n");
  t.put("kernel/mm/ksm/pages_to_scan", "5000\n");
  t.put("kernel/mm/ksm/smart_scan", "0\n");
  auto r = restore_ksm_knobs(sys, *saved);
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(t.get("kernel/mm/ksm/pages_to_scan"), "100");
  EXPECT_EQ(t.get("kernel/mm/ksm/smart_scan"), "1");
  EXPECT_EQ(t.get("kernel/mm/ksm/run"), "1");
  EXPECT_EQ((*r)[2]["knob"], (t.root() / "kernel/mm/ksm/run").string());  // run last
  EXPECT_EQ((*r)[2]["before"], 0);
  EXPECT_EQ((*r)[2]["after"], 1);
}

TEST(Ksm, ParsesSmapsRollupAndKsmStat) {
  auto m = parse_smaps_rollup(
      "00400000-7ffe78755000 ---p 00000000 00:00 0                              [rollup]\n"
      "Rss:               27348 kB\nPss:               25260 kB\nPss_Anon:          16340 kB\n"
      "Anonymous:         16340 kB\nKSM:                 512 kB\nSwap:                  0 kB\n");
  ASSERT_TRUE(m) << m.error().what();
  EXPECT_EQ(m->rss, 27348 * 1024);
  EXPECT_EQ(m->pss, 25260 * 1024);
  EXPECT_EQ(m->anonymous, 16340 * 1024);
  EXPECT_EQ(m->ksm, 512 * 1024);
  parse_ksm_stat("ksm_rmap_items 3000\nksm_zero_pages 0\nksm_merging_pages 128\n"
                 "ksm_process_profit 100\nksm_merge_any: yes\nksm_mergeable: yes\n", *m);
  EXPECT_EQ(m->ksm_merging_pages, 128);
  EXPECT_TRUE(m->ksm_merge_any);
  EXPECT_FALSE(parse_smaps_rollup("Pss: 1 kB\n"));
  EXPECT_FALSE(parse_smaps_rollup("Rss: many kB\n"));
}

TEST(Ksm, ReadsTheMemoryOfThisProcess) {
  auto m = read_proc_memory(::getpid());
  ASSERT_TRUE(m) << m.error().what();
  EXPECT_GT(m->rss, 0);
  EXPECT_GT(m->pss, 0);
  EXPECT_LE(m->pss, m->rss);
}

}  // namespace faas
