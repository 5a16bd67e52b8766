"""English and Russian strings for the pages and their scripts, and choosing between them.

A plain dict per language: small enough to read in one sitting, and a test checks that
both languages have the same keys. Keys starting with ``js.`` are also handed to the
browser (as JSON in ``<body data-messages>``) so script messages are translated too.
Placeholders use ``str.format`` syntax, ``{name}``; the scripts fill them the same way.
"""

from __future__ import annotations

from werkzeug.datastructures import LanguageAccept

LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT_LANGUAGE = "en"
#: Name of the cookie the language switch sets (``?lang=ru`` on any page).
COOKIE_NAME = "lang"
#: Native names for the switch, so each is readable to those who need it.
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}

EN: dict[str, str] = {
    # Layout
    "app.name": "Digits",
    "nav.draw": "Draw",
    "nav.collect": "Collect",
    "nav.about": "About",
    "nav.menu": "Menu",
    "nav.language": "Language",
    "nav.skip": "Skip to content",
    "footer.text": "Digits — handwritten digits read by two neural networks.",
    "footer.data": "Trained on MNIST (CC BY-SA 3.0).",
    # Drawing pad, shared by Draw and Collect
    "pad.label": "Drawing area: draw one digit with a mouse, a finger or a pen",
    "pad.hint": "Draw one digit, large, inside the dashed box.",
    "pad.undo": "Undo",
    "pad.clear": "Clear",
    "pad.tools": "Drawing tools",
    # Draw page
    "draw.title": "Draw a digit",
    "draw.lead": "Two neural networks, a fully connected one and a convolutional one, "
    "each say which digit they see.",
    "draw.recognize": "Recognize",
    "draw.auto": "Recognize automatically when a stroke ends",
    "draw.shortcuts": "Keyboard: Enter recognizes, Ctrl+Z undoes, Backspace clears.",
    "draw.result": "Result",
    "draw.result_empty": "Draw a digit and press Recognize: the answers of both models "
    "appear here.",
    "draw.preview": "What the models saw (28×28)",
    "draw.preview_alt": "Your drawing as the 28×28 image the models read",
    "draw.top3": "Top 3",
    "draw.all_digits": "Probability of each digit",
    "model.version": "version",
    "model.fnn": "FNN",
    "model.fnn_long": "Fully connected network",
    "model.cnn": "CNN",
    "model.cnn_long": "Convolutional network",
    "feedback.title": "Was it right?",
    "feedback.correct": "Correct",
    "feedback.wrong": "Wrong…",
    "feedback.not_digit": "Not a digit",
    "feedback.pick": "Which digit did you draw?",
    "feedback.consent": "Use my drawing to improve the models",
    "feedback.consent_help": "Unchecked, only your answer is counted; the drawing is not stored.",
    # Collect page
    "collect.title": "Collect samples",
    "collect.lead": "Help the models learn: pick a digit, draw it, save. Saved drawings "
    "are stored and used in the next training round.",
    "collect.label": "Digit you are drawing",
    "collect.save": "Save",
    "collect.count": "Saved in this session",
    "collect.shortcuts": "Keyboard: 0–9 choose the digit, Enter saves, Backspace clears, "
    "Ctrl+Z undoes.",
    # About page
    "about.title": "About Digits",
    "about.intro": "Digits is a small handwritten-digit recognizer. You draw a digit in the "
    "browser; two neural networks read it and show how sure they are. When they are "
    "wrong you can say so, and the models learn from these answers in the background.",
    "about.how": "How it works",
    "about.diagram": "Path of a drawing through the system",
    "about.step.browser": "Browser",
    "about.step.browser_text": "canvas → PNG, polls for the answer",
    "about.step.web": "Web",
    "about.step.web_text": "Flask: checks the image, enqueues a job, answers 202",
    "about.step.queue": "Queue",
    "about.step.queue_text": "Redis: Celery broker and results",
    "about.step.workers": "Workers",
    "about.step.workers_text": "Celery: predict with LiteRT, fine-tune with TensorFlow",
    "about.step.store": "Store",
    "about.step.store_text": "S3 or a local folder: samples and model versions",
    "about.how_text": "The web process never runs a model: it answers at once with a job "
    "id, and the page asks for the result until both answers are ready. The worker "
    "turns the drawing into a 28×28 image the MNIST way (crop to the ink, scale to "
    "20 pixels, centre by the centre of mass) and runs both models on it.",
    "about.models": "The models",
    "about.fnn_text": "The 784 pixels pass through two layers of 800 units with dropout. "
    "The classic baseline.",
    "about.cnn_text": "A small network in the VGG style: two blocks of 3×3 convolutions "
    "and pooling, about 0.2 million parameters. It looks at strokes and shapes rather "
    "than single pixels and is usually the more accurate one.",
    "about.learning": "Corrections and collected samples accumulate in the store. A "
    "fine-tune job trains a candidate on them, mixed with the original data, and "
    "promotes it only if it does not lose accuracy on a fixed holdout set.",
    "about.data": "The data",
    "about.data_text": "Both models start from MNIST, 70,000 handwritten digits by Yann "
    "LeCun and Corinna Cortes.",
    "about.data_licence_intro": "The data set is available under the",
    "about.data_licence": "Creative Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0)",
    "about.run": "Run it yourself",
    "about.run_text": "With Python 3.11 or newer, one command creates a virtual environment "
    "in .venv, installs the project and starts everything (web, workers, an embedded "
    "Redis-compatible server and a local store); then open http://127.0.0.1:8000.",
    "about.run_prod": "In production set REDIS_URL and STORAGE_URL (s3://bucket/prefix); "
    "the Procfile and docker-compose.yml list the processes.",
    "nav.models": "Models",
    "nav.samples": "Samples",
    "nav.stats": "Stats",
    # Admin token field, shared by Models and Samples
    "admin.title": "Admin",
    "admin.token": "Admin token",
    "admin.forget": "Forget",
    "admin.token_help": "Enter the admin token to start fine-tunes, roll back or export.",
    # Models page
    "models.title": "Models",
    "models.lead": "Every version of both networks, how it was made and how it did on the "
    "holdout set that decides whether a new version replaces the current one.",
    "models.fine_tune": "Fine-tuning",
    "models.fine_tune_none": "No fine-tune is running.",
    "models.current": "current",
    "models.versions_of": "Versions of the {name}",
    "models.col.version": "Version",
    "models.col.outcome": "Outcome",
    "models.col.mnist": "MNIST accuracy",
    "models.col.loss": "MNIST loss",
    "models.col.user": "User samples",
    "models.col.trained": "Trained on",
    "models.col.actions": "Actions",
    "models.start": "Start a fine-tune",
    "models.admin_help": "Trains a candidate of both models on the samples collected since the "
    "last round. One fine-tune runs at a time.",
    "models.gate_title": "How a version is chosen",
    "models.gate_text": "A candidate is trained from the current version on new samples mixed "
    "with original MNIST digits. It is promoted only if it loses no accuracy on a fixed "
    "holdout set; otherwise it is kept as rejected, with its figures. Figures in brackets "
    "are the change from the parent version.",
    "models.legend_title": "Reading the tables",
    "models.legend.mnist": "share of held-out MNIST test digits read correctly "
    "(for the first version: the whole MNIST test set).",
    "models.legend.loss": "cross-entropy on those digits; lower is better.",
    "models.legend.user": "accuracy on held-out drawings from this site.",
    # Samples page
    "samples.title": "Samples",
    "samples.lead": "The drawings people collected or sent with their corrections, as the "
    "28×28 images the models learn from.",
    "samples.filters": "Filter samples",
    "samples.label": "Digit",
    "samples.any": "Any",
    "samples.source": "Source",
    "samples.source.collect": "Collected",
    "samples.source.feedback": "Correction",
    "samples.refresh": "Refresh",
    "samples.grid": "Samples",
    "samples.pages": "Pages of samples",
    "samples.prev": "Newer",
    "samples.next": "Older",
    "samples.export": "Download the data set",
    "samples.export_zip": "ZIP (PNG + CSV)",
    "samples.export_npz": "NPZ (NumPy)",
    "samples.export_help": "ZIP: one PNG per sample and labels.csv. NPZ: arrays x (n×28×28) "
    "and y, ready for training.",
    # Stats page
    "stats.title": "Stats",
    "stats.lead": "How often the models are right according to the people who drew, what "
    "they confuse, the samples collected, and the state of the queues.",
    "stats.figure.feedback": "Answers received",
    "stats.figure.not_digit": "Not a digit",
    "stats.figure.workers": "Workers online",
    "stats.figure.fine_tune": "Fine-tune",
    "stats.chart.by_day": "Accuracy over time",
    "stats.chart.by_day_help": "Share of answers marked correct, per day (UTC).",
    "stats.chart.by_version": "Accuracy per version",
    "stats.chart.by_version_help": "Share of answers marked correct, per model version.",
    "stats.chart.samples": "Samples per digit",
    "stats.chart.samples_help": "Labelled drawings stored for training.",
    "stats.chart.queues": "Queue depth",
    "stats.chart.queues_help": "Jobs waiting for a worker right now.",
    "stats.no_feedback": "No answers yet: draw a digit and say whether the models were right.",
    "stats.confusion": "Confusion matrix",
    "stats.confusion_model": "Model shown in the confusion matrix",
    "stats.confusion_help": "Rows: the digit drawn; columns: the model's answer. The darker "
    "a cell, the larger its share of the row.",
    "stats.true_predicted": "drawn ↓ read →",
    "stats.workers": "Workers",
    "stats.workers_help": "Celery workers that answered a ping.",
    # Script messages
    "js.status.sending": "Sending…",
    "js.status.queued": "Waiting in the queue…",
    "js.status.running": "The models are reading your digit…",
    "js.status.done": "Done: FNN says {fnn}, CNN says {cnn}.",
    "js.status.failed": "Recognition failed: {message}",
    "js.status.timeout": "Timed out: no answer after {seconds} seconds. Please try again.",
    "js.status.retrying": "Connection problem, retrying…",
    "js.status.expired": "This result has expired. Please press Recognize again.",
    "js.status.cleared": "Cleared.",
    "js.disagree": "The models disagree.",
    "js.percent": "{percent}%",
    "js.bar": "{digit}: {percent}%",
    "js.error.empty_canvas": "Draw a digit first.",
    "js.error.image_too_small": "The drawing is too small. Draw the digit larger.",
    "js.error.image_too_large": "The image is too large.",
    "js.error.invalid_image": "The drawing could not be read. Please try again.",
    "js.error.unsupported_image": "The drawing could not be read. Please try again.",
    "js.error.service_unavailable": "The service is temporarily unavailable. Please try "
    "again in a minute.",
    "js.error.too_many_requests": "Too many requests. Please wait a moment and try again.",
    "js.error.body_too_large": "The image is too large.",
    "js.error.not_found": "This result is unknown or has expired.",
    "js.error.network": "Network error: the server could not be reached.",
    "js.error.generic": "Something went wrong (HTTP {status}).",
    "js.feedback.sending": "Sending…",
    "js.feedback.disagree": "The models disagree. Which digit did you draw?",
    "js.feedback.used": "Thank you! Your drawing will be used in the next training round.",
    "js.feedback.not_stored": "Thank you! Your answer is counted; your drawing is not stored.",
    "js.collect.pick_label": "First choose the digit you are drawing.",
    "js.collect.label": "Digit {label} selected.",
    "js.collect.saving": "Saving…",
    "js.collect.saved": "Saved as {label}. Thank you! Draw the next one.",
    "js.error.unauthorized": "The admin token was refused.",
    "js.error.conflict": "That cannot be done right now: another operation is in progress.",
    "js.admin.token_kept": "Token kept for this tab only; it is sent with admin actions.",
    "js.admin.token_none": "Enter the admin token to start fine-tunes, roll back or export.",
    "js.models.current_badge": "current",
    "js.models.from": "from v{version}",
    "js.models.outcome.initial": "shipped",
    "js.models.outcome.promoted": "promoted",
    "js.models.outcome.rejected": "rejected",
    "js.models.trained_on": "{samples} samples + {replay} MNIST",
    "js.models.trained_mnist": "MNIST, {digits} digits",
    "js.models.no_versions": "No version published yet.",
    "js.models.rollback": "Roll back",
    "js.models.rollback_to": "Roll {model} back to version {version}",
    "js.models.rolling_back": "Rolling back…",
    "js.models.rolled_back": "{model} now serves version {version}.",
    "js.models.starting": "Starting a fine-tune…",
    "js.models.started": "Fine-tune started.",
    "js.models.already_running": "A fine-tune is already running.",
    "js.models.job.queued": "Fine-tune queued: waiting for the trainer…",
    "js.models.job.running": "Fine-tune running…",
    "js.models.job.promoted": "Fine-tune finished: a new version was promoted.",
    "js.models.job.rejected": "Fine-tune finished: the candidates were rejected, the "
    "current versions stay.",
    "js.models.job.failed": "Fine-tune failed.",
    "js.models.job.step": "Step {step} of {total}",
    "js.models.job.loss": "loss {loss}",
    "js.models.job.model_outcome": "{model} v{version}: {outcome} (MNIST {before} → {after})",
    "js.samples.loading": "Loading…",
    "js.samples.none": "No samples match.",
    "js.samples.showing": "Samples {first}–{last} of {total}, newest first.",
    "js.samples.alt": "Sample labelled {label}",
    "js.samples.source.collect": "collected",
    "js.samples.source.feedback": "correction",
    "js.samples.exporting": "Preparing the download…",
    "js.samples.exported": "Downloaded ({size} KB).",
    "js.stats.model.fnn": "FNN",
    "js.stats.model.cnn": "CNN",
    "js.stats.version_label": "v{version}",
    "js.stats.samples_label": "Samples",
    "js.stats.queue_label": "Jobs waiting",
    "js.stats.queue.predict": "predict",
    "js.stats.queue.samples": "samples",
    "js.stats.queue.train": "train",
    "js.stats.confusion_of": "Confusion matrix of the",
    "js.stats.confusion_cell": "Drawn {label}, read {predicted}: {count} ({percent}%)",
    "js.stats.fine_tune_running": "running",
    "js.stats.fine_tune_idle": "idle",
    "js.stats.no_workers": "No worker answered.",
    "js.stats.updated": "Updated {time}",
}

RU: dict[str, str] = {
    "app.name": "Digits",
    "nav.draw": "Рисовать",
    "nav.collect": "Сбор",
    "nav.about": "О проекте",
    "nav.menu": "Меню",
    "nav.language": "Язык",
    "nav.skip": "Перейти к содержимому",
    "footer.text": "Digits — рукописные цифры, которые читают две нейросети.",
    "footer.data": "Обучено на MNIST (CC BY-SA 3.0).",
    "pad.label": "Поле для рисования: нарисуйте одну цифру мышью, пальцем или пером",
    "pad.hint": "Нарисуйте одну крупную цифру внутри пунктирной рамки.",
    "pad.undo": "Отменить",
    "pad.clear": "Очистить",
    "pad.tools": "Инструменты рисования",
    "draw.title": "Нарисуйте цифру",
    "draw.lead": "Две нейросети, полносвязная и свёрточная, скажут, какую цифру они видят.",
    "draw.recognize": "Распознать",
    "draw.auto": "Распознавать сразу после каждого штриха",
    "draw.shortcuts": "Клавиатура: Enter — распознать, Ctrl+Z — отменить, Backspace — очистить.",
    "draw.result": "Результат",
    "draw.result_empty": "Нарисуйте цифру и нажмите «Распознать»: здесь появятся ответы "
    "обеих моделей.",
    "draw.preview": "Что увидели модели (28×28)",
    "draw.preview_alt": "Ваш рисунок в виде изображения 28×28, которое читают модели",
    "draw.top3": "Топ-3",
    "draw.all_digits": "Вероятность каждой цифры",
    "model.version": "версия",
    "model.fnn": "FNN",
    "model.fnn_long": "Полносвязная сеть",
    "model.cnn": "CNN",
    "model.cnn_long": "Свёрточная сеть",
    "feedback.title": "Угадали?",
    "feedback.correct": "Верно",
    "feedback.wrong": "Неверно…",
    "feedback.not_digit": "Это не цифра",
    "feedback.pick": "Какую цифру вы нарисовали?",
    "feedback.consent": "Использовать мой рисунок для улучшения моделей",
    "feedback.consent_help": "Без отметки учитывается только ваш ответ; рисунок не сохраняется.",
    "collect.title": "Сбор образцов",
    "collect.lead": "Помогите моделям учиться: выберите цифру, нарисуйте её и сохраните. "
    "Сохранённые рисунки попадут в следующий раунд обучения.",
    "collect.label": "Цифра, которую вы рисуете",
    "collect.save": "Сохранить",
    "collect.count": "Сохранено за сеанс",
    "collect.shortcuts": "Клавиатура: 0–9 — выбрать цифру, Enter — сохранить, Backspace — "
    "очистить, Ctrl+Z — отменить.",
    "about.title": "О проекте Digits",
    "about.intro": "Digits — небольшой распознаватель рукописных цифр. Вы рисуете цифру в "
    "браузере; две нейросети читают её и показывают, насколько уверены. Если они "
    "ошиблись, можно об этом сказать, и модели в фоне учатся на этих ответах.",
    "about.how": "Как это устроено",
    "about.diagram": "Путь рисунка через систему",
    "about.step.browser": "Браузер",
    "about.step.browser_text": "холст → PNG, опрос результата",
    "about.step.web": "Веб",
    "about.step.web_text": "Flask: проверяет изображение, ставит задачу в очередь, отвечает 202",
    "about.step.queue": "Очередь",
    "about.step.queue_text": "Redis: брокер и результаты Celery",
    "about.step.workers": "Обработчики",
    "about.step.workers_text": "Celery: распознавание на LiteRT, дообучение на TensorFlow",
    "about.step.store": "Хранилище",
    "about.step.store_text": "S3 или локальная папка: образцы и версии моделей",
    "about.how_text": "Веб-процесс никогда не запускает модель: он сразу отвечает "
    "номером задачи, а страница запрашивает результат, пока не придут оба ответа. "
    "Обработчик превращает рисунок в изображение 28×28 по рецепту MNIST (обрезка по "
    "штрихам, масштаб до 20 пикселей, центрирование по центру масс) и запускает обе "
    "модели.",
    "about.models": "Модели",
    "about.fnn_text": "784 пикселя проходят через два слоя по 800 нейронов с dropout. "
    "Классическая базовая модель.",
    "about.cnn_text": "Небольшая сеть в стиле VGG: два блока свёрток 3×3 с пулингом, "
    "около 0,2 миллиона параметров. Она смотрит на штрихи и формы, а не на "
    "отдельные пиксели, и обычно точнее.",
    "about.learning": "Исправления и собранные образцы накапливаются в хранилище. Задача "
    "дообучения учит на них модель-кандидата вместе с исходными данными и продвигает "
    "её, только если точность на фиксированной проверочной выборке не падает.",
    "about.data": "Данные",
    "about.data_text": "Обе модели начинают с MNIST — 70 000 рукописных цифр, авторы Янн "
    "Лекун (Yann LeCun) и Коринна Кортес (Corinna Cortes).",
    "about.data_licence_intro": "Набор данных доступен по",
    "about.data_licence": "лицензии Creative Commons Attribution-Share Alike 3.0 (CC BY-SA 3.0)",
    "about.run": "Как запустить",
    "about.run_text": "С Python 3.11 или новее одна команда создаёт виртуальное окружение "
    "в .venv, устанавливает проект и запускает всё сразу (веб, обработчики, встроенный "
    "Redis-совместимый сервер и локальное хранилище); затем откройте http://127.0.0.1:8000.",
    "about.run_prod": "В продакшене задайте REDIS_URL и STORAGE_URL (s3://bucket/prefix); "
    "процессы перечислены в Procfile и docker-compose.yml.",
    "nav.models": "Модели",
    "nav.samples": "Образцы",
    "nav.stats": "Статистика",
    "admin.title": "Администрирование",
    "admin.token": "Токен администратора",
    "admin.forget": "Забыть",
    "admin.token_help": "Введите токен администратора, чтобы запускать дообучение, "
    "откатывать версии и выгружать данные.",
    "models.title": "Модели",
    "models.lead": "Все версии обеих сетей: как они получены и как справились с "
    "проверочной выборкой, которая решает, заменит ли новая версия текущую.",
    "models.fine_tune": "Дообучение",
    "models.fine_tune_none": "Дообучение не идёт.",
    "models.current": "текущая",
    "models.versions_of": "Версии {name}",
    "models.col.version": "Версия",
    "models.col.outcome": "Итог",
    "models.col.mnist": "Точность MNIST",
    "models.col.loss": "Потери MNIST",
    "models.col.user": "Образцы сайта",
    "models.col.trained": "Обучена на",
    "models.col.actions": "Действия",
    "models.start": "Запустить дообучение",
    "models.admin_help": "Обучает кандидатов обеих моделей на образцах, собранных после "
    "прошлого раунда. Одновременно идёт только одно дообучение.",
    "models.gate_title": "Как выбирается версия",
    "models.gate_text": "Кандидат учится от текущей версии на новых образцах вместе с "
    "исходными цифрами MNIST. Его продвигают, только если точность на фиксированной "
    "проверочной выборке не падает; иначе он сохраняется как отклонённый, вместе с "
    "результатами. В скобках — изменение относительно родительской версии.",
    "models.legend_title": "Как читать таблицы",
    "models.legend.mnist": "доля верно прочитанных отложенных тестовых цифр MNIST "
    "(для первой версии — весь тестовый набор MNIST).",
    "models.legend.loss": "перекрёстная энтропия на этих цифрах; чем меньше, тем лучше.",
    "models.legend.user": "точность на отложенных рисунках с этого сайта.",
    "samples.title": "Образцы",
    "samples.lead": "Рисунки, которые люди собрали или прислали с исправлениями, в виде "
    "изображений 28×28, на которых учатся модели.",
    "samples.filters": "Фильтр образцов",
    "samples.label": "Цифра",
    "samples.any": "Любая",
    "samples.source": "Источник",
    "samples.source.collect": "Сбор",
    "samples.source.feedback": "Исправление",
    "samples.refresh": "Обновить",
    "samples.grid": "Образцы",
    "samples.pages": "Страницы образцов",
    "samples.prev": "Новее",
    "samples.next": "Старее",
    "samples.export": "Скачать набор данных",
    "samples.export_zip": "ZIP (PNG + CSV)",
    "samples.export_npz": "NPZ (NumPy)",
    "samples.export_help": "ZIP: по PNG на образец и labels.csv. NPZ: массивы x (n×28×28) "
    "и y, готовые для обучения.",
    "stats.title": "Статистика",
    "stats.lead": "Как часто модели правы по мнению тех, кто рисовал, что они путают, "
    "сколько собрано образцов и что происходит в очередях.",
    "stats.figure.feedback": "Получено ответов",
    "stats.figure.not_digit": "Не цифра",
    "stats.figure.workers": "Обработчиков в сети",
    "stats.figure.fine_tune": "Дообучение",
    "stats.chart.by_day": "Точность по дням",
    "stats.chart.by_day_help": "Доля ответов, отмеченных как верные, по дням (UTC).",
    "stats.chart.by_version": "Точность по версиям",
    "stats.chart.by_version_help": "Доля ответов, отмеченных как верные, по версиям модели.",
    "stats.chart.samples": "Образцы по цифрам",
    "stats.chart.samples_help": "Размеченные рисунки, сохранённые для обучения.",
    "stats.chart.queues": "Длина очередей",
    "stats.chart.queues_help": "Задачи, которые сейчас ждут обработчика.",
    "stats.no_feedback": "Ответов пока нет: нарисуйте цифру и скажите, правы ли модели.",
    "stats.confusion": "Матрица ошибок",
    "stats.confusion_model": "Модель в матрице ошибок",
    "stats.confusion_help": "Строки — нарисованная цифра, столбцы — ответ модели. Чем темнее "
    "клетка, тем больше её доля в строке.",
    "stats.true_predicted": "нарисовано ↓ прочитано →",
    "stats.workers": "Обработчики",
    "stats.workers_help": "Обработчики Celery, ответившие на пинг.",
    "js.status.sending": "Отправка…",
    "js.status.queued": "Ожидание в очереди…",
    "js.status.running": "Модели распознают вашу цифру…",
    "js.status.done": "Готово: FNN видит {fnn}, CNN видит {cnn}.",
    "js.status.failed": "Распознать не удалось: {message}",
    "js.status.timeout": "Время ожидания истекло: нет ответа за {seconds} секунд. "
    "Попробуйте ещё раз.",
    "js.status.retrying": "Проблема со связью, повторяем…",
    "js.status.expired": "Результат устарел. Нажмите «Распознать» ещё раз.",
    "js.status.cleared": "Очищено.",
    "js.disagree": "Модели не согласны.",
    "js.percent": "{percent} %",
    "js.bar": "{digit}: {percent} %",
    "js.error.empty_canvas": "Сначала нарисуйте цифру.",
    "js.error.image_too_small": "Рисунок слишком мал. Нарисуйте цифру крупнее.",
    "js.error.image_too_large": "Изображение слишком большое.",
    "js.error.invalid_image": "Не удалось прочитать рисунок. Попробуйте ещё раз.",
    "js.error.unsupported_image": "Не удалось прочитать рисунок. Попробуйте ещё раз.",
    "js.error.service_unavailable": "Сервис временно недоступен. Попробуйте через минуту.",
    "js.error.too_many_requests": "Слишком много запросов. Подождите немного и попробуйте снова.",
    "js.error.body_too_large": "Изображение слишком большое.",
    "js.error.not_found": "Результат не найден или устарел.",
    "js.error.network": "Сетевая ошибка: сервер недоступен.",
    "js.error.generic": "Что-то пошло не так (HTTP {status}).",
    "js.feedback.sending": "Отправка…",
    "js.feedback.disagree": "Модели не согласны. Какую цифру вы нарисовали?",
    "js.feedback.used": "Спасибо! Ваш рисунок будет использован в следующем раунде обучения.",
    "js.feedback.not_stored": "Спасибо! Ваш ответ учтён; рисунок не сохраняется.",
    "js.collect.pick_label": "Сначала выберите цифру, которую рисуете.",
    "js.collect.label": "Выбрана цифра {label}.",
    "js.collect.saving": "Сохранение…",
    "js.collect.saved": "Сохранено как {label}. Спасибо! Рисуйте следующую.",
    "js.error.unauthorized": "Токен администратора отклонён.",
    "js.error.conflict": "Сейчас это невозможно: идёт другая операция.",
    "js.admin.token_kept": "Токен хранится только в этой вкладке и отправляется с "
    "действиями администратора.",
    "js.admin.token_none": "Введите токен администратора, чтобы запускать дообучение, "
    "откатывать версии и выгружать данные.",
    "js.models.current_badge": "текущая",
    "js.models.from": "от v{version}",
    "js.models.outcome.initial": "исходная",
    "js.models.outcome.promoted": "принята",
    "js.models.outcome.rejected": "отклонена",
    "js.models.trained_on": "{samples} образцов + {replay} MNIST",
    "js.models.trained_mnist": "MNIST, {digits} цифр",
    "js.models.no_versions": "Ни одной версии ещё не опубликовано.",
    "js.models.rollback": "Откатить",
    "js.models.rollback_to": "Откатить {model} к версии {version}",
    "js.models.rolling_back": "Откат…",
    "js.models.rolled_back": "{model} теперь работает на версии {version}.",
    "js.models.starting": "Запуск дообучения…",
    "js.models.started": "Дообучение запущено.",
    "js.models.already_running": "Дообучение уже идёт.",
    "js.models.job.queued": "Дообучение в очереди: ждём обучающий процесс…",
    "js.models.job.running": "Идёт дообучение…",
    "js.models.job.promoted": "Дообучение завершено: новая версия принята.",
    "js.models.job.rejected": "Дообучение завершено: кандидаты отклонены, текущие версии остаются.",
    "js.models.job.failed": "Дообучение не удалось.",
    "js.models.job.step": "Шаг {step} из {total}",
    "js.models.job.loss": "потери {loss}",
    "js.models.job.model_outcome": "{model} v{version}: {outcome} (MNIST {before} → {after})",
    "js.samples.loading": "Загрузка…",
    "js.samples.none": "Подходящих образцов нет.",
    "js.samples.showing": "Образцы {first}–{last} из {total}, сначала новые.",
    "js.samples.alt": "Образец с меткой {label}",
    "js.samples.source.collect": "сбор",
    "js.samples.source.feedback": "исправление",
    "js.samples.exporting": "Готовим файл…",
    "js.samples.exported": "Скачано ({size} КБ).",
    "js.stats.model.fnn": "FNN",
    "js.stats.model.cnn": "CNN",
    "js.stats.version_label": "v{version}",
    "js.stats.samples_label": "Образцы",
    "js.stats.queue_label": "Задач в ожидании",
    "js.stats.queue.predict": "распознавание",
    "js.stats.queue.samples": "образцы",
    "js.stats.queue.train": "обучение",
    "js.stats.confusion_of": "Матрица ошибок",
    "js.stats.confusion_cell": "Нарисовано {label}, прочитано {predicted}: {count} ({percent} %)",
    "js.stats.fine_tune_running": "идёт",
    "js.stats.fine_tune_idle": "нет",
    "js.stats.no_workers": "Ни один обработчик не ответил.",
    "js.stats.updated": "Обновлено {time}",
}

CATALOGUE: dict[str, dict[str, str]] = {"en": EN, "ru": RU}


def translate(lang: str, key: str, **params: object) -> str:
    """The string for key in lang (English if missing there), with {placeholders} filled."""
    text = CATALOGUE.get(lang, EN).get(key) or EN.get(key, key)
    return text.format(**params) if params else text


def js_messages(lang: str) -> dict[str, str]:
    """The strings the scripts need, keyed without their ``js.`` prefix."""
    catalogue = CATALOGUE.get(lang, EN)
    return {key[3:]: catalogue.get(key, text) for key, text in EN.items() if key.startswith("js.")}


def negotiate(requested: str | None, cookie: str | None, accept: LanguageAccept) -> str:
    """An explicit ?lang= wins, then the cookie the switch set, then the browser's languages."""
    for choice in (requested, cookie):
        if choice is not None and choice in LANGUAGES:
            return choice
    return accept.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE
