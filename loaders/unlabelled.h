/* unlabelled.h: a set of images without labels, for prediction (`plumb predict`): every image
 * file directly in a folder, or the rows of a CSV listing that name images by id (a Kaggle test
 * set). The result is an ordinary PB_DATA_FILES dataset, decoded and augmented per sample by the
 * worker pool (loaders/pool.h) like any other, plus each sample's id. */
#ifndef PB_UNLABELLED_H
#define PB_UNLABELLED_H

#include "loaders/dataset.h"

typedef struct pb_unlabelled_opts {
  const char *id_column;   /* CSV: the header name of the id column (never NULL or "") */
  const char *path_column; /* CSV: the column holding each image's path; "" = id + path_suffix */
  const char *path_suffix; /* CSV without a path column: appended to the id (".jpg") */
  const char *image_dir;   /* CSV: paths are relative to this ("" = the CSV's own folder);
                              absolute paths are taken as they are */
} pb_unlabelled_opts;

/* input: a CSV file (its name ends in .csv, any case) or a folder.
 * - Folder: every regular file directly in it whose name ends in .jpg, .jpeg or .png (any
 *   case; hidden files and sub-folders are not looked at), sorted by name in byte order; the
 *   id is the name less its extension.
 * - CSV: a header row with o->id_column; one sample per data row in file order (blank lines
 *   skipped), its path from o->path_column or the id + o->path_suffix, under o->image_dir.
 * Fills d: name "predict", kind PB_DATA_FILES, n, paths [n], labels [n] all 0 (the loader
 * carries a label per sample; these are not labels); c, h, w and num_classes are left 0 for
 * the caller to set. *ids gets n owned id strings (pb_unlabelled_ids_free). Nothing touches
 * the images themselves: a file that cannot be decoded is found by the loader.
 * Errors (d empty, *ids NULL) name the input and, for a CSV, the line: no such input, a folder
 * without images, a CSV without the id column (its columns are listed) or without data rows,
 * a missing path column, an empty id or path, a row with too few fields, an unterminated
 * quote, and a duplicate id (both places named). */
int pb_data_unlabelled(pb_dataset *d, char ***ids, const char *input, const pb_unlabelled_opts *o, pb_err *err);
void pb_unlabelled_ids_free(char **ids, int n);

#endif
