"""The project's own name lists and how Uzbek, Karakalpak and Russian names are put together.

Not Faker: its ``uz_UZ`` provider has thin lists, makes surnames from female names and knows no
patronymics. Here:

- a surname is a father's or ancestor's (male) given name + ``-ov`` / ``-ova``, or ``-yev`` /
  ``-yeva`` after a vowel, as people write them (Rahimov, Aliyev, Musayeva), ``-ev`` after a
  final ``y`` (Amanbayev);
- an Uzbek patronymic is ``<father> oʻgʻli`` / ``<father> qizi``; a Karakalpak one ``<father> ulı``
  / ``<father> qızı`` (unverified, see DOMAIN.md); Russian-speaking families write the Russian
  style ``-ovich`` / ``-ovna`` (Rustamovich, Sergeyevna);
- Russian surnames take ``-a`` in the feminine (Ivanova, Ilyina).

Uzbek Latin spellings use ʻ (U+02BB) in oʻ and gʻ and ʼ (U+02BC) for the tutuq; Karakalpak
names use the 2016 Latin alphabet (á ó ú ı ń ǵ). Russian names are given in the Latin
transliteration of Uzbek ID documents.
"""

from __future__ import annotations

UZ_MALE: tuple[str, ...] = (
    "Abdulla", "Abduvali", "Abdurahmon", "Abdumalik", "Abdusattor", "Abdugʻani", "Abror", "Akmal",
    "Akbar", "Alisher", "Ali", "Anvar", "Asad", "Asror", "Aziz", "Azamat", "Bahodir", "Bahrom",
    "Baxtiyor", "Bekzod", "Bekmurod", "Berdiyor", "Bobur", "Botir", "Dadaxon", "Davron", "Doniyor",
    "Doston", "Dilshod", "Elbek", "Elyor", "Eldor", "Erkin", "Ergash", "Eshmat", "Farhod", "Farrux",
    "Fayzulla", "Fazliddin", "Fozil", "Gʻayrat", "Gʻulom", "Gʻofur", "Gʻani", "Habib", "Halim",
    "Hamid", "Hasan", "Husan", "Hayot", "Hurshid", "Husniddin", "Ibrohim", "Ikrom", "Ilhom", "Inom",
    "Islom", "Ismoil", "Iskandar", "Jahongir", "Jaloliddin", "Jamshid", "Jasur", "Javlon",
    "Joʻrabek", "Kamol", "Kamoliddin", "Kamron", "Karim", "Komil", "Laziz", "Lochin", "Lutfullo",
    "Mahmud", "Mansur", "Mashrab", "Mirjalol", "Mirzo", "Muhammad", "Murod", "Mustafo", "Muzaffar",
    "Nabi", "Nasriddin", "Nizomiddin", "Nodir", "Normurod", "Nozim", "Nurali", "Nurbek", "Nuriddin",
    "Odil", "Olim", "Orif", "Otabek", "Oybek", "Oʻktam", "Oʻlmas", "Poʻlat", "Qahramon", "Qobil",
    "Qodir", "Qudrat", "Rahim", "Rahmat", "Rashid", "Rasul", "Rauf", "Ravshan", "Rustam", "Ruslan",
    "Sadriddin", "Salim", "Samandar", "Sanjar", "Sardor", "Sarvar", "Sayfulla", "Shamsiddin",
    "Sharof", "Shavkat", "Sherali", "Sherzod", "Shodmon", "Shokir", "Shoxrux", "Shuhrat",
    "Sirojiddin", "Sobir", "Sodiq", "Sulton", "Sunnat", "Temur", "Tohir", "Tolib", "Toshpoʻlat",
    "Toʻlqin", "Tursun", "Ulugʻbek", "Umar", "Umid", "Usmon", "Uygʻun", "Vali", "Vohid", "Xolmurod",
    "Yahyo", "Yoqub", "Yorqin", "Yusuf", "Zafar", "Zarif", "Ziyod", "Ziyodulla", "Zohid", "Zokir",
    "Zuhriddin", "Musa", "Hamza",
)

UZ_FEMALE: tuple[str, ...] = (
    "Adolat", "Aziza", "Bahor", "Barchinoy", "Barno", "Charos", "Dilbar", "Dildora", "Dilfuza",
    "Dilnoza", "Dilorom", "Dilrabo", "Dilshoda", "Diyora", "Durdona", "Elnora", "Farangiz", "Farida",
    "Fazilat", "Feruza", "Fotima", "Gavhar", "Gulasal", "Gulbahor", "Gulchehra", "Guli", "Gulmira",
    "Gulnora", "Gulnoza", "Gulsanam", "Gulshan", "Gulyora", "Hamida", "Hilola", "Holida", "Hulkar",
    "Husnora", "Intizor", "Iroda", "Jamila", "Kamola", "Karima", "Komila", "Kumush", "Latofat",
    "Laylo", "Lazzat", "Lobar", "Lola", "Madina", "Maftuna", "Mahliyo", "Malika", "Manzura",
    "Marhabo", "Marjona", "Maryam", "Mashhura", "Mastura", "Matluba", "Mavluda", "Mehribon",
    "Mohichehra", "Mohinur", "Mohira", "Muhabbat", "Mukarram", "Munira", "Munisa", "Muqaddas",
    "Mushtariy", "Mutabar", "Muyassar", "Nafisa", "Nafosat", "Nargiza", "Nasiba", "Nasima",
    "Navbahor", "Nazira", "Nazokat", "Nigina", "Nigora", "Nilufar", "Nodira", "Nodirabegim",
    "Nozima", "Odina", "Oydin", "Oydina", "Oygul", "Oysha", "Ozoda", "Oʻgʻiloy", "Parizoda",
    "Parvina", "Qunduz", "Raʼno", "Rayhon", "Robiya", "Rohila", "Roziya", "Rushana", "Ruxsora",
    "Sabina", "Sabohat", "Sadoqat", "Saida", "Sanobar", "Saodat", "Sarvinoz", "Sayyora", "Sevara",
    "Shahlo", "Shahnoza", "Shahzoda", "Shirin", "Shodiya", "Shohista", "Shoira", "Sitora", "Sohiba",
    "Sojida", "Sugʻdiyona", "Surayyo", "Tanzila", "Tozagul", "Tursunoy", "Umida", "Vazira",
    "Xadicha", "Xosiyat", "Xumora", "Xurshida", "Yorqinoy", "Yulduz", "Zamira", "Zarina",
    "Zarnigor", "Zaynab", "Zebo", "Zebuniso", "Zilola", "Ziyoda", "Zuhra", "Zulfiya", "Gulnoraxon",
    "Muattar", "Ogʻilxon", "Mohigul",
)

KAA_MALE: tuple[str, ...] = (
    "Ájiniyaz", "Berdaq", "Allanazar", "Amanbay", "Ayapbergen", "Azat", "Baxadır", "Baymurat",
    "Bekmurat", "Berik", "Dáwlet", "Dáwletmurat", "Erejep", "Ernazar", "Esbergen", "Genjebay",
    "Ibrayım", "Jalǵas", "Jaqsılıq", "Jańabay", "Jumabay", "Kamal", "Marat", "Nawrız", "Oraz",
    "Orınbay", "Ótep", "Polat", "Qalbay", "Qalmurat", "Qayrat", "Qıdırbay", "Rústem", "Sabır",
    "Sarsenbay", "Seytmurat", "Shamshet", "Sultanbay", "Temirbek", "Tólepbergen", "Turdıbay",
    "Ulıqbek", "Xojabay", "Yusup", "Musa",
)

KAA_FEMALE: tuple[str, ...] = (
    "Gúlnara", "Aynura", "Ayjamal", "Aysulıw", "Aygúl", "Altınay", "Ayımxan", "Ámina", "Bibigúl",
    "Dinara", "Gúlayım", "Gúlbahar", "Gúlistan", "Gúlmira", "Gúlparshın", "Gúlsara", "Gúlshat",
    "Gúlzada", "Jamila", "Jupargúl", "Kámila", "Maqpal", "Marjan", "Máriyam", "Nargiza", "Nazira",
    "Nurjamal", "Raysa", "Roza", "Saltanat", "Sánem", "Sánobar", "Sáwle", "Sholpan", "Sulıwxan",
    "Tolǵanay", "Tumaris", "Ulbosın", "Zamira", "Zúlxumar",
)

RU_MALE: tuple[str, ...] = (
    "Aleksandr", "Aleksey", "Anatoliy", "Andrey", "Artem", "Boris", "Denis", "Dmitriy", "Gennadiy",
    "Igor", "Ivan", "Konstantin", "Leonid", "Maksim", "Mikhail", "Nikolay", "Oleg", "Pavel", "Roman",
    "Sergey", "Stanislav", "Vadim", "Valeriy", "Viktor", "Vitaliy", "Vladimir", "Yevgeniy", "Yuriy",
    "Timur", "Ruslan",
)

RU_FEMALE: tuple[str, ...] = (
    "Alina", "Alla", "Anastasiya", "Anna", "Darya", "Galina", "Inna", "Irina", "Kristina", "Kseniya",
    "Larisa", "Lyubov", "Lyudmila", "Mariya", "Marina", "Nadezhda", "Natalya", "Nina", "Oksana",
    "Olga", "Polina", "Svetlana", "Tatyana", "Valentina", "Veronika", "Viktoriya", "Yekaterina",
    "Yelena", "Yuliya", "Zoya",
)

# Masculine forms; the feminine adds -a.
RU_SURNAMES: tuple[str, ...] = (
    "Ivanov", "Petrov", "Smirnov", "Kuznetsov", "Popov", "Sokolov", "Lebedev", "Kozlov", "Novikov",
    "Morozov", "Volkov", "Solovyov", "Vasilyev", "Zaytsev", "Pavlov", "Semyonov", "Golubev",
    "Vinogradov", "Bogdanov", "Vorobyov", "Fyodorov", "Mikhaylov", "Tarasov", "Belov", "Komarov",
    "Orlov", "Kiselyov", "Makarov", "Andreyev", "Kovalyov", "Ilyin", "Gusev", "Titov", "Kuzmin",
    "Baranov", "Kulikov", "Alekseyev", "Stepanov", "Yakovlev", "Sorokin", "Sergeyev", "Romanov",
    "Zakharov", "Borisov", "Gerasimov", "Grigoryev", "Lazarev", "Medvedev", "Nikitin", "Sobolev",
    "Polyakov", "Danilov", "Zhukov", "Frolov", "Nikolayev", "Krylov", "Maksimov", "Sidorov",
    "Osipov", "Yegorov", "Matveyev", "Kalinin", "Antonov", "Timofeyev", "Filippov", "Markov",
    "Mironov",
)

# Russian patronymics that do not follow the -ovich / -evich rule.
_RU_PATRONYMIC_EXCEPTIONS: dict[str, tuple[str, str]] = {
    "Igor": ("Igorevich", "Igorevna"),
    "Pavel": ("Pavlovich", "Pavlovna"),
    "Lev": ("Lvovich", "Lvovna"),
}

_VOWELS = frozenset("aeiouAEIOUáóúıÁÓÚ")

CULTURES: tuple[str, ...] = ("uz", "kaa", "ru")


def _suffix(stem: str, masculine: str, feminine: str, sex: str) -> str:
    return stem + (masculine if sex == "m" else feminine)


def surname_from(ancestor: str, sex: str) -> str:
    """A surname formed from an ancestor's given name: Rahim → Rahimov / Rahimova, Ali → Aliyev /
    Aliyeva, Amanbay → Amanbayev / Amanbayeva."""
    last = ancestor[-1]
    if last in _VOWELS:
        return _suffix(ancestor, "yev", "yeva", sex)
    if last == "y":
        return _suffix(ancestor, "ev", "eva", sex)
    return _suffix(ancestor, "ov", "ova", sex)


def russian_surname(masculine: str, sex: str) -> str:
    """Ivanov → Ivanova, Ilyin → Ilyina."""
    return masculine if sex == "m" else masculine + "a"


def patronymic(father: str, sex: str, style: str) -> str:
    """``Anvar oʻgʻli`` / ``Anvar qizi`` (uz), ``Berdaq ulı`` / ``Berdaq qızı`` (kaa),
    ``Anvarovich`` / ``Anvarovna`` (ru)."""
    if style == "uz":
        return f"{father} {'oʻgʻli' if sex == 'm' else 'qizi'}"
    if style == "kaa":
        return f"{father} {'ulı' if sex == 'm' else 'qızı'}"
    if style == "ru":
        if father in _RU_PATRONYMIC_EXCEPTIONS:
            male, female = _RU_PATRONYMIC_EXCEPTIONS[father]
            return male if sex == "m" else female
        last = father[-1]
        if last in _VOWELS:
            return _suffix(father, "yevich", "yevna", sex)
        if last == "y":
            return _suffix(father, "evich", "evna", sex)
        return _suffix(father, "ovich", "ovna", sex)
    raise ValueError(f"unknown patronymic style {style!r}")


def surname_agrees(surname: str, sex: str) -> bool:
    """True when a surname made here has the form of the person's sex (feminine ones end in -a)."""
    return surname.endswith("a") == (sex == "f")
