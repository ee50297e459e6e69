# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled form of ``Classification.from_export``'s path for the usual export row
(``core/classification.py``, the same object): the annotations grouped by task in one C loop;
and of the answer that ``question_cells`` reads (``core/extractors/question_extractor.py``).

The batch extract makes a ``Classification`` per row (20,000 for a 20k project); the Python
loop and the instance's construction were ~2 µs of it. ``tests/core/test_classification.py``
checks that it gives what the Python path gives, and None exactly where that path is left;
``tests/core/extractors/test_cells_forms.py`` the same for the answer.
"""

from cpython.dict cimport PyDict_GetItemWithError, PyDict_SetItem
from cpython.list cimport PyList_Append
from cpython.object cimport PyObject, PyObject_GenericSetAttr

cdef str _TASK = "task"
cdef str _DICT = "__dict__"


def usual_classification(
    type cls,
    object annotations,
    object metadata,
    object classification_id,
    object gold_standard,
    object user_id,
):
    """``cls(grouped annotations, metadata, classification_id, gold_standard, user_id, {})``
    for an export row parsed from JSON (a list of dicts, each with a ``task``; a dict of
    metadata); None for anything else. The compiled form of
    ``core.classification._usual_classification_py`` (see there).
    """
    cdef dict grouped = {}
    cdef object annotation, task
    cdef PyObject *found
    if type(annotations) is not list or type(metadata) is not dict:
        return None
    for annotation in <list>annotations:
        if type(annotation) is not dict:
            return None
        found = PyDict_GetItemWithError(annotation, _TASK)
        if found == NULL:
            return None
        task = <object>found
        if type(task) is not str:
            task = str(task)
        found = PyDict_GetItemWithError(grouped, task)
        if found == NULL:
            PyDict_SetItem(grouped, task, [annotation])
        else:
            PyList_Append(<object>found, annotation)
    made = cls.__new__(cls)
    # (a frozen dataclass: its __setattr__ refuses; object's sets the instance dict at once)
    PyObject_GenericSetAttr(made, _DICT, {
        "annotations": grouped,
        "metadata": metadata,
        "classification_id": classification_id,
        "gold_standard": gold_standard,
        "user_id": user_id,
        "context": {},
    })
    return made


def answer_key(dict annotations, str task, str prefix, object unanswered, object decline):
    """The answer of the first annotation of ``task`` (or of a key starting with ``prefix``,
    its FEM subtasks) in grouped ``annotations``, as ``question_cells`` caches it: the text,
    a tuple of texts, None; ``unanswered`` without such an annotation; ``decline`` for any
    other value, a missing one or an annotation that is not a dict. The compiled form of
    ``core.extractors.question_extractor._answer_key_py`` (the same result).
    """
    cdef object key, items, annotation = None, answer, item
    cdef PyObject *found
    for key, items in annotations.items():
        if items and (key == task or key.startswith(prefix)):
            annotation = items[0]
            break
    if annotation is None:
        return unanswered
    if type(annotation) is not dict:
        return decline
    found = PyDict_GetItemWithError(annotation, "value")
    if found == NULL:
        return decline
    answer = <object>found
    if type(answer) is list:
        for item in <list>answer:
            if type(item) is not str:
                return decline
        return tuple(answer)
    if type(answer) is not str and answer is not None:
        return decline
    return answer
