/* config_keys.c: the one declaration of every configuration key (config.h). Nothing else in
 * plumb names a key that is not here; config.c checks this table at first use (no duplicate
 * section.key, defaults parse and lie within bounds, enum defaults among the choices).
 * Bounds are inclusive; for lists they bound each element. `plumb config` prints it. */
#include "engine/config/config.h"

#define I PB_CFG_INT
#define F PB_CFG_FLOAT
#define B PB_CFG_BOOL
#define S PB_CFG_STRING
#define E PB_CFG_ENUM
#define IL PB_CFG_INT_LIST
#define FL PB_CFG_FLOAT_LIST

/* clang-format off */
const pb_cfg_key pb_cfg_keys[] = {
  /* section, key, type, min, max, default, choices (enums), doc */
  {"run", "name",             S, 0, 0, "run", NULL, "run directory name under out_dir"},
  {"run", "out_dir",          S, 0, 0, "runs", NULL, "folder holding the run directories"},
  {"run", "seed",             I, 0, 2147483647, "0", NULL, "random seed (initialisation, shuffling, dropout, bias)"},
  {"run", "device",           S, 0, 0, "auto", NULL, "auto | cpu | cuda | cuda:N (auto = first GPU if any, else cpu)"},
  {"run", "threads",          I, 0, 1024, "0", NULL, "CPU threads (0 = all cores)"},
  {"run", "log_interval",     I, 1, 1000000, "50", NULL, "steps between progress lines"},
  {"run", "checkpoint_every", I, 0, 100000, "1", NULL, "epochs between checkpoints (0 = only at the end)"},
  {"run", "checkpoint_every_steps", I, 0, 100000000, "0", NULL, "optimizer steps between checkpoints inside an epoch as well (0 = off)"},
  {"run", "keep_checkpoints", I, 1, 1000, "2", NULL, "checkpoints kept in the run directory"},
  {"run", "select",           S, 0, 0, "", NULL, "keep best.safetensors, the checkpoint of the epoch with the best value of this metrics.csv column (e.g. f_unbiased_acc; columns ending in _loss are minimised, others maximised; empty = off)"},
  {"run", "resume",           B, 0, 0, "true", NULL, "continue from the run directory's latest checkpoint when there is one"},
  {"run", "deterministic",    B, 0, 0, "false", NULL, "GPU: only deterministic algorithms, even where slower (the CPU ops always are)"},
  {"run", "tf32",             B, 0, 0, "true", NULL, "GPU: allow TF32 tensor-core math in convolutions and linear layers"},
  {"run", "cudnn_workspace_mb", I, 0, 65536, "1024", NULL, "GPU: cuDNN workspace in MiB (convolution algorithms that need more are not used; resnet50 trains 1.33x faster with 1024 than with 256 on an H100)"},

  {"data", "dataset",          E, 0, 0, "idx", "idx|folder|csv|npy", "data source: idx = MNIST-style IDX files (dir + train/test images/labels); folder = dir/train_path/<class>/<image>; csv = manifests train_path/test_path; npy = float32 features train_path/test_path with labels train_targets/test_targets"},
  {"data", "dir",              S, 0, 0, "/usr/share/datasets/fashion-mnist", NULL, "folder holding the dataset files"},
  {"data", "train_images",     S, 0, 0, "train-images-idx3-ubyte.gz", NULL, "training images (IDX, optionally gzipped), relative to dir"},
  {"data", "train_labels",     S, 0, 0, "train-labels-idx1-ubyte.gz", NULL, "training labels (IDX, optionally gzipped), relative to dir"},
  {"data", "test_images",      S, 0, 0, "t10k-images-idx3-ubyte.gz", NULL, "test images (IDX, optionally gzipped), relative to dir"},
  {"data", "test_labels",      S, 0, 0, "t10k-labels-idx1-ubyte.gz", NULL, "test labels (IDX, optionally gzipped), relative to dir"},
  {"data", "val_split",        F, 0, 0.9, "0", NULL, "fraction of the training set held out for validation"},
  {"data", "limit_train",      I, 0, 100000000, "0", NULL, "use only the first N training samples (0 = all)"},
  {"data", "limit_test",       I, 0, 100000000, "0", NULL, "use only the first N test samples (0 = all)"},
  {"data", "bias",             E, 0, 0, "none", "none|inversion|colour", "bias injected into the training set"},
  {"data", "eps",              F, 0, 50, "0", NULL, "inversion bias strength: inversion probability 0.5+-0.01*eps by super-class"},
  {"data", "class_assignment", I, 0, 251, "0", NULL, "which balanced 5/5 split of the 10 classes into super-classes (0 = classes 0-4 vs 5-9)"},
  {"data", "rho",              F, 0, 1, "0.99", NULL, "colour bias: fraction of samples with their class colour"},
  {"data", "mean",             FL, 0, 1, "0.5", NULL, "per-channel normalisation mean"},
  {"data", "std",              FL, 1e-6, 10, "0.5", NULL, "per-channel normalisation std"},
  {"data", "shuffle",          B, 0, 0, "true", NULL, "shuffle the training set every epoch"},
  {"data", "test_bias",        E, 0, 0, "default", "default|unbiased|biased", "bias of the test set: default = colour: unbiased (rho 0.1), inversion: the training eps; unbiased = rho 0.1 / eps 0; biased = rho 1 / eps 50"},
  {"data", "test_variants",    S, 0, 0, "", NULL, "biased,unbiased (either or both): evaluate on the test set with each bias variant (colour: rho 1 / rho 0.1; inversion: eps 50 / eps 0) in place of the one test_bias gives; figures named after the variant (unbiased_acc=, f_unbiased_acc in metrics.csv)"},
  {"data", "train_path",       S, 0, 0, "train", NULL, "folder: class-folder root; csv: manifest; npy: features .npy (relative to dir)"},
  {"data", "test_path",        S, 0, 0, "val", NULL, "the same for the test set"},
  {"data", "train_targets",    S, 0, 0, "", NULL, "npy: training labels, a .npy of integers or a .csv (relative to dir)"},
  {"data", "test_targets",     S, 0, 0, "", NULL, "npy: test labels, a .npy of integers or a .csv (relative to dir)"},
  {"data", "image_root",       S, 0, 0, "", NULL, "csv: folder the manifest's image paths are relative to (relative to dir; empty = dir)"},
  {"data", "path_column",      S, 0, 0, "", NULL, "csv: header name of the image path column (empty = the first column)"},
  {"data", "label_columns",    S, 0, 0, "", NULL, "csv/npy: comma-separated label column names, the first is the trained one (empty = the second column; npy: the last); with [model] heads: empty = the head names, else exactly the head names in any order"},
  {"data", "group_column",     S, 0, 0, "", NULL, "csv: group / attribute column for the bias metrics (empty = none)"},
  {"data", "test_group_columns", S, 0, 0, "", NULL, "csv: comma-separated columns of the TEST manifest alone (the training manifest need not have them) holding integer group ids >= 0, each a grouping of the test images for the cell-averaged accuracy (test_cell_acc; f_test_cell_acc for named models): per grouping, the mean over (true class, group) cells of at least min_cell images of the cell's accuracy, then the mean over groupings (nan when a grouping has no such cell); ImageNet-9: cluster1,cluster2,cluster3, ReBias's unbiased accuracy"},
  {"data", "min_cell",         I, 1, 1000000000, "10", NULL, "test_group_columns: fewest test images a (class, group) cell needs to count (ReBias's evaluator.py: cells with >= 10 images)"},
  {"data", "multilabel",       B, 0, 0, "false", NULL, "csv: the first label column holds space-separated labels (names or ids)"},
  {"data", "path_suffix",      S, 0, 0, "", NULL, "csv: appended to every image path (e.g. .jpg for Kaggle ids)"},
  {"data", "channels",         I, 1, 3, "3", NULL, "image files: channels decoded (1 = grey, 3 = RGB)"},
  {"data", "convert_channels", B, 0, 0, "true", NULL, "image files: convert grey/RGB/RGBA to `channels`; false = a different stored count is a bad image"},

  {"loader", "workers",      I, 0, 1024, "0", NULL, "loader threads that decode and augment (0 = the number of cores)"},
  {"loader", "queue_depth",  I, 0, 4096, "0", NULL, "ready batches held (0 = workers + 2, at least 3)"},
  {"loader", "reduced_dct",  B, 0, 0, "true", NULL, "let TurboJPEG decode a JPEG at 1/2, 1/4 or 1/8 scale when the target is at least 2x smaller (false: always full size)"},
  {"loader", "on_bad_image", E, 0, 0, "skip", "skip|fail", "a missing, empty, truncated or corrupt image: skip and count it, or stop with an error"},
  {"loader", "max_bad_fraction", F, 0, 1, "0.01", NULL, "with on_bad_image = skip: a pass (epoch or evaluation) whose skipped images pass this fraction of its images stops the run"},
  {"loader", "max_image_pixels", I, 1, 2147483647, "178956970", NULL, "images whose stored width x height exceeds this are bad (a decompression bomb; Pillow's limit)"},

  {"augment", "size",   I, 0, 8192, "0", NULL, "output height = width (0 = the stored size; image files need it)"},
  {"augment", "train",  E, 0, 0, "none", "none|rrc|resize_crop|pad_crop", "training geometry: none (resize to size), RandomResizedCrop, resize shorter side + centre crop, pad + random crop"},
  {"augment", "test",   E, 0, 0, "none", "none|resize_crop", "evaluation geometry"},
  {"augment", "scale",  FL, 0, 1, "0.08,1", NULL, "rrc: range of the crop's area fraction"},
  {"augment", "ratio",  FL, 0.01, 100, "0.75,1.3333333", NULL, "rrc: range of the crop's aspect ratio"},
  {"augment", "resize", I, 0, 16384, "0", NULL, "resize_crop: shorter side before the centre crop (0 = size / 0.875)"},
  {"augment", "pad",    I, 0, 1024, "4", NULL, "pad_crop: zero padding on each side"},
  {"augment", "flip",   F, 0, 1, "0", NULL, "training: probability of a horizontal flip"},
  {"augment", "invert", F, 0, 1, "0", NULL, "training: probability of colour inversion (255 - x)"},
  {"augment", "tta",    E, 0, 0, "none", "none|flip|tencrop", "evaluation (plumb eval, each epoch's val/test): softmax probabilities averaged over test-time views per image: none; flip = the test view + its mirror; tencrop = shorter side to resize, 5 crops of size + their mirrors"},

  {"model", "arch",        E, 0, 0, "simplecnn", "mlp|simplecnn|simpleconvnet|resnet18|resnet34|resnet50|resnet101|resnet152|seresnet50|seresnet101|seresnet152|cifar_resnet|bagnet18", "model architecture (resnets: torchvision layout; seresnets: timm's)"},
  {"model", "num_classes", I, 1, 1000000, "10", NULL, "output classes"},
  {"model", "in_channels", I, 0, 64, "0", NULL, "input channels (0 = from the data)"},
  {"model", "kernel_size", I, 1, 15, "7", NULL, "convolution kernel size (simpleconvnet)"},
  {"model", "hidden",      IL, 1, 1000000, "256", NULL, "hidden layer widths (mlp)"},
  {"model", "channels",    IL, 1, 4096, "16,32", NULL, "convolution widths (simplecnn)"},
  {"model", "dropout",     F, 0, 0.99, "0", NULL, "dropout probability (0 = off)"},
  {"model", "init_from",   S, 0, 0, "", NULL, "safetensors file to initialise the weights from (empty = random init)"},
  {"model", "init_exclude", S, 0, 0, "", NULL, "init_from: comma-separated tensor-name patterns (* wildcard) left at their random init, e.g. fc.*"},
  {"model", "depth",       I, 8, 1000, "20", NULL, "cifar_resnet depth, 6n+2 ([n,n,n] basic blocks)"},
  {"model", "width",       F, 0.0625, 16, "1", NULL, "resnets: width multiplier of every stage's planes"},
  {"model", "se_reduction", I, 1, 1024, "16", NULL, "seresnets: squeeze-excitation channel reduction"},
  {"model", "zero_init_residual", B, 0, 0, "false", NULL, "resnets: start each block's last batch-norm weight at 0"},
  {"model", "stem",        E, 0, 0, "auto", "auto|imagenet|small", "resnets: imagenet = 7x7/2 conv + max pool; small = 3x3/1 conv, no pool (28x28, 32x32); auto = small under 64 pixels (bagnet18: its released stem, always)"},
  {"model", "heads",       S, 0, 0, "", NULL, "named classification heads after global pooling, NAME:CLASSES,... (e.g. skin:10,gender:2,age:4; checkpoint names heads.NAME.weight); each head is trained on the csv label column of its name; empty = one head fc with num_classes"},
  {"model", "head_weights", FL, 0, 1e6, "", NULL, "heads: loss weight of each head, in the order of heads (empty = 1 each); the loss is the weighted sum of the heads' mean cross-entropies"},
  {"model", "embedding_dim", I, 0, 65536, "0", NULL, "embedding head for metric learning: a linear layer to this many dimensions in place of fc (0 = classification); no training loss exists for it yet"},
  {"model", "embedding_l2", B, 0, 0, "false", NULL, "embedding head: L2-normalise the embedding (F.normalize)"},
  {"model", "frozen",      B, 0, 0, "false", NULL, "named models ([model.NAME]): never stepped by the method (no optimizer; an [optim.NAME] for it is an error); evaluated and checkpointed like the others"},
  {"model", "input_size",  I, 1, 4096, "224", NULL, "input side for plumb info --model and plumb bench (training takes it from the data)"},

  {"train", "epochs",          I, 1, 100000, "10", NULL, "passes over the training set"},
  {"train", "batch_size",      I, 1, 65536, "128", NULL, "samples per micro-batch"},
  {"train", "eval_batch_size", I, 0, 65536, "0", NULL, "samples per evaluation batch (0 = 2 x batch_size)"},
  {"train", "accum_steps",     I, 1, 1024, "1", NULL, "micro-batches accumulated per optimizer step"},
  {"train", "clip_grad_norm",  F, 0, 1e9, "0", NULL, "clip the global gradient norm to this value (0 = off)"},
  {"train", "loss",            E, 0, 0, "ce", "ce|bce", "loss: softmax cross-entropy or per-class binary cross-entropy"},
  {"train", "label_smoothing", F, 0, 0.99, "0", NULL, "label smoothing of the targets (0 = off)"},
  {"train", "max_steps",       I, 0, 1e12, "0", NULL, "stop after this many optimizer steps (0 = no limit)"},

  {"optim", "name",         E, 0, 0, "sgd", "sgd|adam|adamw", "optimizer"},
  {"optim", "lr",           F, 0, 100, "0.01", NULL, "learning rate (the schedule's peak)"},
  {"optim", "momentum",     F, 0, 1, "0.9", NULL, "sgd momentum (0 = plain sgd)"},
  {"optim", "dampening",    F, 0, 1, "0", NULL, "sgd momentum dampening"},
  {"optim", "nesterov",     B, 0, 0, "false", NULL, "sgd Nesterov momentum"},
  {"optim", "weight_decay", F, 0, 10, "0", NULL, "L2 penalty (sgd, adam) or decoupled weight decay (adamw)"},
  {"optim", "beta1",        F, 0, 0.999999, "0.9", NULL, "adam/adamw first-moment decay"},
  {"optim", "beta2",        F, 0, 0.999999999, "0.999", NULL, "adam/adamw second-moment decay"},
  {"optim", "eps",          F, 0, 1, "1e-8", NULL, "adam/adamw denominator epsilon"},

  {"schedule", "name",         E, 0, 0, "constant", "constant|step|multistep|cosine", "learning-rate schedule"},
  {"schedule", "unit",         E, 0, 0, "epoch", "epoch|step", "what step_size, milestones and the cosine period count"},
  {"schedule", "step_size",    I, 1, 1e12, "30", NULL, "step: multiply lr by gamma every step_size units"},
  {"schedule", "gamma",        F, 0, 1, "0.1", NULL, "step, multistep: lr decay factor"},
  {"schedule", "milestones",   IL, 0, 1e12, "", NULL, "multistep: units at which lr is multiplied by gamma"},
  {"schedule", "min_lr",       F, 0, 100, "0", NULL, "cosine: final learning rate"},
  {"schedule", "warmup_steps", I, 0, 1e12, "0", NULL, "optimizer steps of linear warm-up from 0 (0 = none)"},

  {"method", "name",       E, 0, 0, "plain", "plain|vanilla|biased|rebias|rubi|learnedmixin", "training method: plain = one model ([model]); with named models [model.NAME]: vanilla = f on its cross-entropy, biased = g on its cross-entropy, rebias = the ReBias min-max (g: CE(g) - lambda_g HSIC(g, f); f: CE(f) + lambda_f sum over g of HSIC(f, g)), rubi = g on CE(g), f on CE(f * sigmoid(head(g_feat))) + CE(head(g_feat)) with its own linear head on g's detached features, learnedmixin = LearnedMixin+H against a pretrained, frozen g (f on CE(f + softplus(head(f_feat)) g) + entropy_weight H); every named model is evaluated and checkpointed"},
  {"method", "f",          S, 0, 0, "f", NULL, "the de-biased model: the NAME of its [model.NAME]"},
  {"method", "g",          S, 0, 0, "g", NULL, "the biased model(s): comma-separated NAMEs of [model.NAME] sections"},
  {"method", "lambda_f",   F, 0, 1e6, "1", NULL, "rebias: weight of sum over g of HSIC(f, g) in f's loss; rubi, learnedmixin: weight of the method's loss, f's whole objective"},
  {"method", "lambda_g",   F, 0, 1e6, "1", NULL, "rebias: weight of -HSIC(g, f) in g's loss"},
  {"method", "n_g_update", I, 1, 1000, "1", NULL, "rebias, rubi: g steps per f step"},
  {"method", "g_pretrain_epochs", I, 0, 100000, "0", NULL, "rebias, rubi, learnedmixin: epochs that train only the g models, on their cross-entropy at [optim] lr (no schedule), before [train] epochs of the method (the run has both; learnedmixin: 5 in the released MNIST protocol, 30 for ImageNet)"},
  {"method", "train_head", B, 0, 0, "true", NULL, "rubi, learnedmixin: train the method's linear head with f's optimizer, as the methods' papers intend; false = the released code, whose head stays at its random init"},
  {"method", "rubi_g_weight", F, 0, 1e6, "1", NULL, "rubi: weight of CE(head(g_feat)) in f's loss (the released question_loss_weight)"},
  {"method", "entropy_weight", F, 0, 1e6, "0.36", NULL, "learnedmixin: weight w of the entropy of softmax(softplus(head(f_feat)) g_logits) (LearnedMixin+H)"},
  {"method", "hsic",       E, 0, 0, "unbiased", "unbiased|biased", "rebias: HSIC estimator (unbiased: Song et al. 2012, batches of 4 or more; biased: Gretton 2005)"},
  {"method", "sigma_x",    S, 0, 0, "1", NULL, "rebias: RBF kernel width of the first HSIC argument: a number > 0, dimension (sqrt of the feature dimension) or median (sqrt of the median squared distance of f's features over the first quarter of an epoch's batches, as released)"},
  {"method", "sigma_y",    S, 0, 0, "1", NULL, "rebias: the same for the second argument (median: over every g model's features, pooled)"},
  {"method", "update_sigma_per_epoch", B, 0, 0, "false", NULL, "rebias with a median sigma: compute it again before every epoch (ImageNet protocol), not only at the start"},
};
/* clang-format on */

const int pb_cfg_nkeys = (int)(sizeof pb_cfg_keys / sizeof pb_cfg_keys[0]);
