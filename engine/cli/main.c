/* main.c: the plumb command line: the command table and the dispatch through the shared
 * preamble (common.c). */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"

static const pb_command commands[] = {
    {.name = "train",
     .usage = "CONFIG [--set section.key=value]... [--resume CHECKPOINT] [--nproc N]",
     .help = "train, resuming the run folder's newest checkpoint; --nproc N: data-parallel over N local ranks "
             "(mpirun; also launched by mpirun or srun directly)",
     .options = "resume,nproc",
     .config = PB_CLI_CONFIG,
     .signals = 1,
     .run = pb_cmd_train},
    {.name = "eval",
     .usage = "CONFIG --checkpoint CHECKPOINT [--model NAME] [--json FILE.json] [--predictions FILE.csv] "
              "[--set section.key=value]...",
     .help = "test figures of a checkpoint (every model of a multi-model run, or --model NAME's), printed and "
             "written to eval.json (CHECKPOINT.eval.json, or --json); --predictions writes each test image's labels "
             "and predicted classes",
     .options = "checkpoint,model,predictions,json",
     .required = "checkpoint",
     .config = PB_CLI_CONFIG,
     .run = pb_cmd_eval},
    {.name = "predict",
     .usage = "CONFIG --checkpoint CHECKPOINT --input FOLDER|LIST.csv --out SUBMISSION.csv [--probs PROBS.npy] "
              "[--failed FAILED.csv] [--tta none|flip|tencrop] [--set section.key=value]...",
     .help = "a Kaggle submission (image_id,labels: class names, best first) of a checkpoint's predictions on "
             "unlabelled images (every .jpg/.jpeg/.png in FOLDER, or the ids of LIST.csv, [predict] keys); "
             "--probs the view-averaged probabilities / per-label scores as float32 [N, k] .npy; --failed the "
             "images that could not be read",
     .options = "checkpoint,input,out,probs,failed,tta",
     .required = "checkpoint,input,out",
     .config = PB_CLI_CONFIG,
     .signals = 1,
     .run = pb_cmd_predict},
    {.name = "embed",
     .usage = "CONFIG --checkpoint CHECKPOINT --out EMB.npy [--split test|train|val|NAME] [--csv ROWS.csv] "
              "[--set section.key=value]...",
     .help = "an embedding model's embeddings of one set: float32 [N, D] .npy and a CSV of each row's index, "
             "path, identity label and group",
     .options = "checkpoint,out,split,csv",
     .required = "checkpoint,out",
     .config = PB_CLI_CONFIG,
     .run = pb_cmd_embed},
    {.name = "verify",
     .usage = "--emb EMB.npy --rows ROWS.csv [--gallery G.npy --gallery-rows G.csv] [--label-column label] "
              "[--group-column NAME] [--score cosine|l2] [--fpr 1e-3,1e-4,1e-5,1e-6] [--json OUT.json]",
     .help = "verification figures (TPR at FPR, AUC, EER, per group) of embeddings from plumb embed or any "
             "tool: every pair of the rows, or each row against a gallery",
     .options = "emb,rows,gallery,gallery-rows,label-column,group-column,score,fpr,json",
     .required = "emb,rows",
     .run = pb_cmd_verify},
    {.name = "info",
     .usage = "[--model NAME [--set ...]] [--data CONFIG [--set ...]]",
     .help = "the build, libraries and GPUs; with --model an architecture summary and parameter count; with --data "
             "the loaded data set as CSV (split,sample,label,group: the labels and bias attributes training uses)",
     .options = "model,data",
     .run = pb_cmd_info},
    {.name = "config",
     .usage = "[CONFIG] [--set ...]",
     .help = "without CONFIG: every config key with its type, bounds, default and meaning; with CONFIG: the "
             "resolved config",
     .config = PB_CLI_OPTIONAL_CONFIG,
     .run = pb_cmd_config},
    {.name = "sweep",
     .usage = "SPEC.ini --out DIR [--force] [--set section.key=value]...",
     .help = "a sweep spec ([sweep] base, mode grid|zip|random, [set], [vary]; README \"Sweeps and collection\") "
             "expanded into DIR/configs/trial-NNNN.ini, each a resolved config, and DIR/manifest.csv; --force "
             "replaces an existing sweep in DIR",
     .options = "out",
     .flags = "force",
     .required = "out",
     .config = PB_CLI_ARGS,
     .run = pb_cmd_sweep},
    {.name = "collect",
     .usage = "DIR... --out FILE.csv [--summary FILE.csv] [--metric COL[,COL...]]...",
     .help = "one CSV row per trial of sweep folders (manifest.csv) or per run folder: the manifest's columns, "
             "final_ and best_ of every metrics.csv column, epochs_done, status; and FILE_summary.csv: mean and "
             "standard deviation over run.seed per setting",
     .options = "out,summary,metric",
     .required = "out",
     .config = PB_CLI_ARGS,
     .run = pb_cmd_collect},
    {.name = "halve",
     .usage = "DIR --metric COLUMN [--eta 3] [--min-epochs R] [--max-epochs E] [--jobs N] [--plumb PATH] "
              "[--plan | --print-round K | --close-round K]",
     .help = "successive halving over a sweep folder's trials: every trial to R epochs, then the best 1/eta (by the "
             "last metrics.csv row's COLUMN; min for _loss/_eer) to R*eta^k, up to E; N local `plumb train` processes; "
             "state in DIR/halving/ (rerun to resume), ranking in DIR/halving/result.csv. On slurm (scripts/slurm/halve.sh): "
             "--plan prints the current round as `ROUND EPOCHS ROWS` (ROWS 0-based, for sbatch --array=), --print-round K "
             "only its rows, --close-round K after its array ended records the trials short of its epochs as failed",
     .options = "metric,eta,min-epochs,max-epochs,jobs,plumb,print-round,close-round",
     .flags = "plan",
     .required = "metric",
     .config = PB_CLI_ARGS,
     .signals = 1,
     .run = pb_cmd_halve},
    {.name = "bench",
     .usage = "--model NAME [--batch N] [--steps S] [--mode train|infer|both] [--set ...] | --loader CONFIG "
              "[--workers 1,2,4] [--images N] [--set ...] | --config CONFIG [--batch N] [--steps S] [--warmup W] "
              "[--set ...] | --op lstm [--seq T] [--batch N] [--input D] [--hidden H] [--layers L] "
              "[--bidirectional 0|1] [--dropout P] [--steps S] [--warmup W] [--set ...] | --op triplet [--batch N] [--P P] "
              "[--K K] [--dim D] [--mode hard|all] [--soft 0|1] [--squared 0|1] [--margin M] [--reduction all|nonzero] "
              "[--emb FILE.npy] [--steps S] [--warmup W] [--repeat R] [--set ...] | --verification "
              "PROBESxGALLERY|N [--dim D] [--threads T] [--repeat R]",
     .help = "training / inference throughput on synthetic data, decode + augment throughput per worker count, "
             "a config's training step (any method) on synthetic data, one op alone (ms per call), or the "
             "verification metrics (TPR@FPR, AUC, EER) on random embeddings",
     .options = "model,batch,steps,warmup,mode,loader,workers,images,config,op,seq,input,hidden,layers,bidirectional,"
                "dropout,verification,dim,threads,repeat,P,K,soft,squared,margin,reduction,emb",
     .run = pb_cmd_bench},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *out) {
  fprintf(out, "plumb %s: training and inference for computer-vision bias research\n\nusage:\n", PLUMB_VERSION);
  for (int i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  plumb %s %s\n      %s\n", commands[i].name, commands[i].usage, commands[i].help);
  fprintf(out, "  plumb help\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(cmd, commands[i].name)) return pb_cli_main(&commands[i], argc, argv);
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("plumb %s\n", PLUMB_VERSION);
    return 0;
  }
  fprintf(stderr, "plumb: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
