//! The simulator's message templates, written by the project, per language and intent. The
//! placeholders are those of [`super::corpus`]; an unknown language falls back to English.

/// `TEMPLATES[lang] = [(intent, [template…])…]`.
pub fn templates(lang: &str) -> &'static [(&'static str, &'static [&'static str])] {
    match lang {
        "en" => EN,
        "fr" => FR,
        "de" => DE,
        "es" => ES,
        "ru" => RU,
        "is" => IS,
        "pt" => PT,
        "it" => IT,
        "nl" => NL,
        _ => EN,
    }
}

const EN: &[(&str, &[&str])] = &[
    (
        "outage",
        &[
            "{b} {p} is down again, cannot log in at all",
            "is the {b} {p} not working for anyone else? keeps crashing since this morning",
            "{b} outage?? {p} won't load, error every time I try",
            "can't access my {p}, {b} servers down? been {n} hours now",
            "{b} {p} not working in {c}, nothing loads",
        ],
    ),
    (
        "safety",
        &[
            "found glass in my {p} from {b}, my kid nearly swallowed it",
            "{b} {p} caught fire in my kitchen, this is dangerous",
            "got food poisoning after the {b} {p}, whole family sick",
            "the {b} {p} gave me an electric shock, someone could get hurt",
        ],
    ),
    (
        "security",
        &[
            "my {b} account was hacked, someone changed my password",
            "{b} there are charges on my {p} I never made, is this fraud?",
            "got a phishing text pretending to be {b}, did you leak my data?",
            "someone logged into my {b} {p} from another country",
        ],
    ),
    (
        "complaint",
        &[
            "worst service ever {b}, waited {n} hours and nobody helps",
            "{b} charged me twice for my {p} and support ignores me",
            "third time I ask {b}: where is my refund for the {p}???",
            "really disappointed with {b}, the {p} is a joke",
            "{b} cancelled my {p} without telling me, absolutely unacceptable",
        ],
    ),
    (
        "question",
        &[
            "hi {b}, how do I change the email on my {p}?",
            "does {b} {p} work abroad? travelling to {c} next week",
            "{b} what are your opening hours in {c}?",
            "can I get a refund on my {p} if I cancel today {b}?",
        ],
    ),
    (
        "praise",
        &[
            "thank you {b}, the {p} team sorted it in {n} minutes!",
            "love the new {b} {p}, so much faster",
            "great experience with {b} today, friendly staff in {c}",
            "{b} you are the best, {p} works perfectly",
        ],
    ),
    (
        "other",
        &[
            "watching the game, ad from {b} again",
            "anyone else remember the old {b} logo",
            "{b} sponsoring the festival in {c} this year",
            "new {b} {p} commercial is everywhere",
            "reading about {b} results this quarter",
        ],
    ),
];

const FR: &[(&str, &[&str])] = &[
    (
        "outage",
        &[
            "l'{p} {b} est en panne, impossible de me connecter",
            "{b} ne marche plus depuis ce matin, {p} plante à chaque fois",
            "panne chez {b} ? le {p} ne charge pas depuis {n} heures",
            "impossible d'accéder à mon {p} {b}, le service est coupé à {c}",
        ],
    ),
    (
        "safety",
        &[
            "j'ai trouvé du verre dans mon {p} {b}, mon fils a failli l'avaler",
            "intoxication alimentaire après le {p} {b}, toute la famille malade",
            "le {p} {b} a pris feu dans la cuisine, c'est dangereux",
        ],
    ),
    (
        "security",
        &[
            "mon compte {b} a été piraté, quelqu'un a changé mon mot de passe",
            "des prélèvements frauduleux sur ma {p} {b}, c'est une arnaque ?",
            "{b} vous avez eu une fuite de données ? je reçois du phishing",
        ],
    ),
    (
        "complaint",
        &[
            "service client {b} nul, j'attends depuis {n} heures",
            "{b} m'a facturé deux fois le {p}, personne ne répond",
            "troisième fois que je demande mon remboursement {b} !!!",
            "très déçu par {b}, le {p} est inadmissible",
        ],
    ),
    (
        "question",
        &[
            "bonjour {b}, comment modifier l'adresse de mon {p} ?",
            "est-ce que le {p} {b} fonctionne à l'étranger ?",
            "{b} quels sont vos horaires à {c} ?",
        ],
    ),
    (
        "praise",
        &[
            "merci {b}, problème réglé en {n} minutes, au top",
            "j'adore le nouveau {p} {b}, super rapide",
            "bravo {b}, personnel très gentil à {c}",
        ],
    ),
    (
        "other",
        &[
            "encore une pub {b} pendant le match",
            "{b} sponsorise le festival de {c} cette année",
            "vous vous souvenez de l'ancien logo {b} ?",
        ],
    ),
];

const DE: &[(&str, &[&str])] = &[
    (
        "outage",
        &[
            "{b} {p} geht schon wieder nicht, kann mich nicht anmelden",
            "ist die {b} {p} bei euch auch ausgefallen? seit {n} Stunden nichts",
            "Störung bei {b}? {p} lädt nicht mehr in {c}",
        ],
    ),
    (
        "safety",
        &[
            "Glassplitter im {p} von {b} gefunden, mein Kind hätte sich verletzen können",
            "Lebensmittelvergiftung nach {b} {p}, die ganze Familie krank",
            "das {b} {p} hat gebrannt, das ist gefährlich",
        ],
    ),
    (
        "security",
        &[
            "mein {b} Konto wurde gehackt, Passwort geändert",
            "Abbuchungen auf meiner {p} bei {b}, die ich nie gemacht habe, Betrug?",
            "{b} gab es ein Datenleck? ich bekomme Phishing Mails",
        ],
    ),
    (
        "complaint",
        &[
            "schlechtester Service, {b}, warte seit {n} Stunden",
            "{b} hat mir den {p} doppelt berechnet und niemand antwortet",
            "zum dritten Mal: wo bleibt meine Erstattung {b}???",
            "total enttäuscht von {b}, der {p} ist eine Frechheit",
        ],
    ),
    (
        "question",
        &[
            "hallo {b}, wie ändere ich die E-Mail für mein {p}?",
            "funktioniert {b} {p} auch im Ausland?",
            "{b} wann habt ihr in {c} geöffnet?",
        ],
    ),
    (
        "praise",
        &[
            "danke {b}, in {n} Minuten gelöst, super",
            "die neue {b} {p} ist richtig schnell, toll",
            "sehr freundliches Personal bei {b} in {c}",
        ],
    ),
    (
        "other",
        &[
            "schon wieder {b} Werbung beim Spiel",
            "{b} sponsert dieses Jahr das Festival in {c}",
            "erinnert sich jemand an das alte {b} Logo",
        ],
    ),
];

const ES: &[(&str, &[&str])] = &[
    (
        "outage",
        &[
            "la {p} de {b} no funciona otra vez, no puedo entrar",
            "¿{b} está caído? la {p} no carga desde hace {n} horas",
            "caída de {b} en {c}, la {p} da error todo el rato",
        ],
    ),
    (
        "safety",
        &[
            "encontré cristal en mi {p} de {b}, mi hijo casi se lo traga",
            "intoxicación alimentaria por el {p} de {b}, toda la familia enferma",
            "el {p} de {b} se incendió en la cocina, es peligroso",
        ],
    ),
    (
        "security",
        &[
            "me han hackeado la cuenta de {b}, cambiaron mi contraseña",
            "cargos en mi {p} de {b} que nunca hice, ¿es un fraude?",
            "{b} ¿habéis tenido una filtración de datos? me llega phishing",
        ],
    ),
    (
        "complaint",
        &[
            "pésimo servicio {b}, llevo {n} horas esperando",
            "{b} me cobró dos veces la {p} y nadie responde",
            "tercera vez que pido mi reembolso a {b}!!!",
            "muy decepcionado con {b}, la {p} es una vergüenza",
        ],
    ),
    (
        "question",
        &[
            "hola {b}, ¿cómo cambio el correo de mi {p}?",
            "¿funciona la {p} de {b} en el extranjero?",
            "{b} ¿qué horario tenéis en {c}?",
        ],
    ),
    (
        "praise",
        &[
            "gracias {b}, lo resolvieron en {n} minutos, genial",
            "me encanta la nueva {p} de {b}, muy rápida",
            "personal muy amable de {b} en {c}",
        ],
    ),
    (
        "other",
        &[
            "otra vez el anuncio de {b} en el partido",
            "{b} patrocina el festival de {c} este año",
            "¿alguien recuerda el logo antiguo de {b}?",
        ],
    ),
];

const RU: &[(&str, &[&str])] = &[
    (
        "outage",
        &[
            "{b} опять не работает, не могу войти в {p}",
            "у кого-то ещё {p} {b} не грузится? уже {n} часа",
            "сбой у {b} в городе {c}, {p} выдаёт ошибку",
        ],
    ),
    (
        "safety",
        &[
            "нашла стекло в {p} от {b}, ребёнок чуть не проглотил",
            "отравление после {p} {b}, вся семья болеет",
            "{p} {b} загорелся на кухне, это опасно",
        ],
    ),
    (
        "security",
        &[
            "мой аккаунт {b} взломали, поменяли пароль",
            "списания с моей карты {b}, которых я не делал, это мошенничество?",
            "{b} у вас была утечка данных? приходят фишинговые письма",
        ],
    ),
    (
        "complaint",
        &[
            "ужасный сервис {b}, жду ответа {n} часа",
            "{b} списали деньги дважды за {p}, никто не отвечает",
            "третий раз спрашиваю {b}, где мой возврат???",
            "очень разочарован {b}, {p} просто позор",
        ],
    ),
    (
        "question",
        &[
            "здравствуйте {b}, как поменять почту в {p}?",
            "работает ли {p} {b} за границей?",
            "{b} какие у вас часы работы в городе {c}?",
        ],
    ),
    (
        "praise",
        &[
            "спасибо {b}, решили проблему за {n} минут",
            "новое {p} от {b} просто супер, очень быстро",
            "очень вежливые сотрудники {b} в городе {c}",
        ],
    ),
    (
        "other",
        &[
            "опять реклама {b} во время матча",
            "{b} спонсирует фестиваль в городе {c} в этом году",
            "кто помнит старый логотип {b}?",
        ],
    ),
];

const IS: &[(&str, &[&str])] = &[
    (
        "outage",
        &[
            "{p} hjá {b} liggur niðri, get ekki skráð mig inn",
            "virkar {b} {p} hjá ykkur? ekkert virkar í {n} klukkutíma",
            "bilun hjá {b} í {c}, {p} hleðst ekki",
        ],
    ),
    (
        "safety",
        &[
            "fann gler í {p} frá {b}, barnið mitt gleypti það næstum",
            "matareitrun eftir {p} frá {b}, öll fjölskyldan veik",
            "{p} frá {b} kviknaði í eldhúsinu, þetta er hættulegt",
        ],
    ),
    (
        "security",
        &[
            "það var brotist inn á {b} aðganginn minn, lykilorðinu breytt",
            "færslur á kortinu mínu hjá {b} sem ég gerði ekki, er þetta svik?",
            "{b} varð gagnaleki hjá ykkur? ég fæ veiðipóst",
        ],
    ),
    (
        "complaint",
        &[
            "ömurleg þjónusta hjá {b}, búinn að bíða í {n} klukkutíma",
            "{b} rukkaði mig tvisvar fyrir {p} og enginn svarar",
            "í þriðja sinn spyr ég {b} hvar endurgreiðslan mín er",
            "mjög vonsvikinn með {b}, {p} er til skammar",
        ],
    ),
    (
        "question",
        &[
            "halló {b}, hvernig breyti ég netfanginu á {p}?",
            "virkar {p} frá {b} erlendis?",
            "{b} hvenær er opið hjá ykkur í {c}?",
        ],
    ),
    (
        "praise",
        &[
            "takk {b}, leyst á {n} mínútum, frábært",
            "nýja {p} frá {b} er æðislegt og hratt",
            "mjög vingjarnlegt starfsfólk hjá {b} í {c}",
        ],
    ),
    (
        "other",
        &[
            "enn ein auglýsingin frá {b} í leiknum",
            "{b} styrkir hátíðina í {c} í ár",
            "man einhver eftir gamla merkinu hjá {b}",
        ],
    ),
];

const PT: &[(&str, &[&str])] = &[
    (
        "outage",
        &[
            "o {p} da {b} está fora do ar, não consigo entrar",
            "{b} caiu de novo? o {p} não carrega há {n} horas",
        ],
    ),
    (
        "safety",
        &[
            "encontrei vidro no {p} da {b}, meu filho quase engoliu",
            "intoxicação alimentar depois do {p} da {b}",
        ],
    ),
    (
        "security",
        &[
            "minha conta {b} foi invadida, mudaram a senha",
            "cobranças no meu {p} da {b} que não fiz, é fraude?",
        ],
    ),
    (
        "complaint",
        &[
            "péssimo atendimento {b}, esperando há {n} horas",
            "{b} me cobrou duas vezes o {p} e ninguém responde",
        ],
    ),
    (
        "question",
        &[
            "olá {b}, como mudo o e-mail do meu {p}?",
            "o {p} da {b} funciona no exterior?",
        ],
    ),
    (
        "praise",
        &[
            "obrigado {b}, resolveram em {n} minutos",
            "adorei o novo {p} da {b}, muito rápido",
        ],
    ),
    (
        "other",
        &[
            "de novo a propaganda da {b} no jogo",
            "a {b} patrocina o festival em {c} este ano",
        ],
    ),
];

const IT: &[(&str, &[&str])] = &[
    (
        "outage",
        &[
            "l'{p} di {b} non funziona di nuovo, non riesco ad accedere",
            "{b} è down? il {p} non carica da {n} ore",
        ],
    ),
    (
        "safety",
        &[
            "ho trovato del vetro nel {p} di {b}, mio figlio stava per ingoiarlo",
            "intossicazione alimentare dopo il {p} di {b}",
        ],
    ),
    (
        "security",
        &[
            "il mio account {b} è stato violato, hanno cambiato la password",
            "addebiti sulla mia {p} {b} che non ho fatto, è una truffa?",
        ],
    ),
    (
        "complaint",
        &[
            "servizio pessimo {b}, aspetto da {n} ore",
            "{b} mi ha addebitato due volte il {p} e nessuno risponde",
        ],
    ),
    (
        "question",
        &[
            "ciao {b}, come cambio l'email del mio {p}?",
            "il {p} di {b} funziona all'estero?",
        ],
    ),
    (
        "praise",
        &[
            "grazie {b}, risolto in {n} minuti",
            "adoro il nuovo {p} di {b}, velocissimo",
        ],
    ),
    (
        "other",
        &[
            "ancora la pubblicità di {b} durante la partita",
            "{b} sponsorizza il festival di {c} quest'anno",
        ],
    ),
];

const NL: &[(&str, &[&str])] = &[
    (
        "outage",
        &[
            "de {p} van {b} ligt er weer uit, kan niet inloggen",
            "storing bij {b}? {p} laadt al {n} uur niet",
        ],
    ),
    (
        "safety",
        &[
            "glas gevonden in mijn {p} van {b}, mijn zoon slikte het bijna in",
            "voedselvergiftiging na de {p} van {b}",
        ],
    ),
    (
        "security",
        &[
            "mijn {b} account is gehackt, wachtwoord veranderd",
            "afschrijvingen op mijn {p} van {b} die ik niet deed, is dit fraude?",
        ],
    ),
    (
        "complaint",
        &[
            "slechtste service ooit {b}, wacht al {n} uur",
            "{b} heeft de {p} twee keer afgeschreven en niemand reageert",
        ],
    ),
    (
        "question",
        &[
            "hoi {b}, hoe verander ik het e-mailadres van mijn {p}?",
            "werkt de {p} van {b} ook in het buitenland?",
        ],
    ),
    (
        "praise",
        &[
            "bedankt {b}, in {n} minuten opgelost",
            "de nieuwe {p} van {b} is echt snel",
        ],
    ),
    (
        "other",
        &[
            "alweer die reclame van {b} tijdens de wedstrijd",
            "{b} sponsort dit jaar het festival in {c}",
        ],
    ),
];
