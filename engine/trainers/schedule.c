/* schedule.c: learning-rate schedules (engine/trainers/optim.h: pb_sched_lr) as closed forms of
 * torch.optim.lr_scheduler's StepLR, MultiStepLR and CosineAnnealingLR, plus linear warmup.
 * Host only (no twin): one scalar per step. A pure function of the step, so a resumed run
 * needs no scheduler state. */
#include "engine/trainers/optim.h"

#include <math.h>

#include "kernels/pb_common.h"

#define PB_PI 3.14159265358979323846

double pb_sched_lr(const pb_sched_cfg *s, int64_t step, int64_t steps_per_epoch,
                   int64_t total_steps) {
  PB_ASSERT(step >= 0);
  PB_ASSERT(s->per_step || steps_per_epoch > 0);
  /* e: the schedule's position in its own unit (optimizer steps or whole epochs). */
  const int64_t e = s->per_step ? step : step / steps_per_epoch;
  double lr = s->base_lr;
  switch (s->kind) {
    case PB_SCHED_CONSTANT: break;
    case PB_SCHED_STEP:
      PB_ASSERT(s->step_size > 0);
      lr = s->base_lr * pow(s->gamma, (double)(e / s->step_size));
      break;
    case PB_SCHED_MULTISTEP: {
      /* MultiStepLR: gamma ^ (number of milestones <= e), i.e. bisect_right; with factors
       * (Classy Vision's multistep values, as ratios), their product over those milestones. */
      int k = 0;
      for (int i = 0; i < s->nmilestones; i++) k += s->milestones[i] <= e;
      if (s->nfactors)
        for (int i = 0; i < k; i++) lr *= s->factors[i];
      else
        lr = s->base_lr * pow(s->gamma, (double)k);
      break;
    }
    case PB_SCHED_COSINE: {
      /* CosineAnnealingLR with T_max = the run's length in the unit; its recursive form
       * equals this closed form (to rounding), including past T_max. */
      const double t_max =
          s->per_step ? (double)total_steps : (double)total_steps / (double)steps_per_epoch;
      if (t_max > 0.0)
        lr = s->min_lr + (s->base_lr - s->min_lr) * (1.0 + cos(PB_PI * (double)e / t_max)) / 2.0;
      break;
    }
    default: PB_FATAL("unknown schedule kind %d", (int)s->kind);
  }
  if (step < s->warmup_steps) lr *= (double)(step + 1) / (double)s->warmup_steps;
  return lr;
}
