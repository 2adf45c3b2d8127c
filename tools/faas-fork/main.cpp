// faas-fork: copy-on-write rootfs forks. See faas-fork(1).
#include "fork_cmd.hpp"

int main(int argc, char** argv) {
  if (faas::answer_version(argc, argv, "faas-fork")) return 0;
  faas::CommonOptions common;
  faas::fork::Options o;
  if (faas::fork::parse_quick(argc, argv, common, o))
    return faas::run_parsed(common, [&] { return faas::fork::run(common, o); });
  CLI::App app{"Copy-on-write rootfs forks: overlay, btrfs snapshot, reflink or copy", "faas-fork"};
  faas::add_common_options(app, common);
  auto* m = app.add_option_group("Method", "One of these; see faas-fork(1) METHODS");
  m->add_flag("--overlay", o.overlay, "An overlayfs mount over the base (any filesystem)");
  m->add_flag("--btrfs", o.btrfs, "A btrfs snapshot (the base is a subvolume)");
  m->add_flag("--reflink", o.reflink, "Clone every file with FICLONE (btrfs, XFS)");
  m->add_flag("--copy", o.copy, "A full copy (copy_file_range, sparse-aware)");
  m->add_flag("--auto", o.automatic, "The fastest method the base allows (the default)");
  app.add_option("--base", o.base, "Fork this directory instead of the records on stdin")
      ->type_name("DIR");
  app.add_option("--upper-tmpfs", o.upper_tmpfs, "The writable layer on a tmpfs of SIZE (64M, 1G)")
      ->type_name("SIZE");
  app.add_option("--holder", o.holder, "Who holds the fork (default: the parent process)")
      ->type_name("PID")->check(CLI::PositiveNumber);
  auto* rm = app.add_subcommand("rm", "Remove forks by ID, or the forks the records on stdin name");
  rm->add_option("ID", o.ids, "Fork IDs");
  auto* ls = app.add_subcommand("ls", "List forks (a table on a terminal, JSON lines otherwise)");
  auto* gc = app.add_subcommand("gc", "Remove forks matching every criterion, and interrupted ones");
  gc->add_option("--older-than", o.older_than, "Made more than DUR ago (90s, 10m, 2h, 1d)")
      ->type_name("DUR");
  gc->add_flag("--dead-holders", o.dead_holders, "Whose holder (pid + start time) is gone");
  app.require_subcommand(0, 1);
  return faas::run_main(app, argc, argv, common, [&] {
    using faas::fork::Command;
    o.command = rm->parsed() ? Command::rm : ls->parsed() ? Command::ls
                : gc->parsed() ? Command::gc : Command::create;
    return faas::fork::run(common, o);
  });
}
