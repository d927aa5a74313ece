// runtime/cli/: the subcommands of `wideep`, one file each, and main.cc.
// Include any folder of runtime/.
//
// Entry points of the wideep subcommands; each returns the process exit status
// (0 ok, 1 a check failed, 2 bad input). `run` is the only one that needs mpirun.
#pragma once

namespace wideep {

int run_main(int argc, char** argv);   // runtime/cli/cmd_run.cc
int plan_main(int argc, char** argv);  // runtime/cli/cmd_plan.cc
int lp_main(int argc, char** argv);    // runtime/cli/cmd_lp.cc
int sim_main(int argc, char** argv);   // runtime/cli/cmd_sim.cc
int topo_main(int argc, char** argv);  // runtime/cli/cmd_topo.cc
int mem_main(int argc, char** argv);   // runtime/cli/cmd_mem.cc
int roofline_main(int argc, char** argv);  // runtime/cli/cmd_roofline.cc

}  // namespace wideep
