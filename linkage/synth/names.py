"""Name data for a Los Angeles–area population.

Weights are rough relative frequencies (per group), tuned by eye against Census surname and
SSA given-name tables for California; they only need to make common names common, so that
name frequency adjustments and blocking behave as they would on county data. Truth names
are stored upper case ASCII; accents, nicknames and case are noise added per source.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.synth.weighted import Weighted, parse_weighted

SURNAMES: dict[str, Weighted[str]] = {
    "hispanic": parse_weighted("""
        GARCIA:100, HERNANDEZ:85, LOPEZ:80, MARTINEZ:78, GONZALEZ:75, RODRIGUEZ:75, PEREZ:60,
        SANCHEZ:58, RAMIREZ:52, FLORES:50, TORRES:38, RIVERA:35, GOMEZ:35, DIAZ:33, CRUZ:30,
        REYES:30, MORALES:28, GUTIERREZ:27, ORTIZ:25, CASTILLO:24, RUIZ:24, MENDOZA:24,
        CHAVEZ:24, ALVAREZ:22, JIMENEZ:20, VASQUEZ:20, ROMERO:18, MORENO:18, HERRERA:18,
        MEDINA:17, AGUILAR:17, VARGAS:15, CASTRO:15, GUZMAN:14, FERNANDEZ:13, JUAREZ:13,
        SALAZAR:13, CONTRERAS:13, DOMINGUEZ:12, LUNA:12, ESTRADA:12, SANDOVAL:12, MUNOZ:12,
        NUNEZ:9, CERVANTES:10, OROZCO:9, PENA:8, DE LA CRUZ:6, DEL RIO:3, DE LEON:5
    """),
    "english": parse_weighted("""
        SMITH:40, JOHNSON:35, WILLIAMS:33, BROWN:30, JONES:30, MILLER:22, DAVIS:22, WILSON:15,
        ANDERSON:14, TAYLOR:14, THOMAS:13, JACKSON:13, MOORE:12, MARTIN:12, LEE:12,
        THOMPSON:11, WHITE:11, HARRIS:11, CLARK:10, LEWIS:10, ROBINSON:10, WALKER:10, YOUNG:9,
        ALLEN:9, KING:9, WRIGHT:9, SCOTT:8, HILL:8, GREEN:8, ADAMS:8, BAKER:8, NELSON:7,
        CARTER:7, MITCHELL:7, ROBERTS:7, CAMPBELL:6, EVANS:6, TURNER:6, COLLINS:5, MURPHY:5,
        COOK:5, MORGAN:5, WASHINGTON:5, COLEMAN:4, BELL:4, MCDONALD:4, O'BRIEN:3, JEFFERSON:3,
        SMITH-JONES:1
    """),
    "vietnamese": parse_weighted("""
        NGUYEN:60, TRAN:25, LE:18, PHAM:15, HUYNH:10, VO:8, HOANG:6, DANG:6, BUI:5, DO:5,
        NGO:5, TRUONG:5, LAM:4, VU:4, DUONG:3
    """),
    "chinese": parse_weighted("""
        CHEN:14, WONG:14, WANG:12, LI:10, CHAN:10, ZHANG:9, LIU:8, HUANG:8, LIN:8, WU:7,
        YANG:6, CHANG:6, HO:4, CHENG:4, ZHAO:4, LAU:3, LIANG:3
    """),
    "filipino": parse_weighted("""
        SANTOS:10, REYES:8, CRUZ:8, BAUTISTA:7, RAMOS:7, GARCIA:6, MENDOZA:6, DELA CRUZ:6,
        AQUINO:5, VILLANUEVA:5, CASTILLO:4, DIZON:3, SORIANO:3, NAVARRO:3, TOLENTINO:3,
        PASCUAL:3, MANALO:3, MACARAEG:2
    """),
    "korean": parse_weighted("""
        KIM:30, LEE:25, PARK:18, CHOI:9, JUNG:6, KANG:5, CHO:5, YOON:4, JANG:4, LIM:4,
        HAN:3, SHIN:3, OH:3, SEO:2
    """),
    "armenian": parse_weighted("""
        SARGSYAN:5, HARUTYUNYAN:5, PETROSYAN:4, GRIGORYAN:4, KHACHATRYAN:4, HAKOBYAN:3,
        MARTIROSYAN:3, KARAPETYAN:3, GEVORGYAN:3, AVETISYAN:2, MKRTCHYAN:2, BABAYAN:2
    """),
}

# Given-name pools by (pool, sex). A group draws from a mixture of pools (see GROUPS):
# many Chinese, Korean and Filipino Angelenos carry English given names.
GIVEN_NAMES: dict[tuple[str, str], Weighted[str]] = {
    ("hispanic", "M"): parse_weighted("""
        JOSE:60, JUAN:35, LUIS:25, CARLOS:25, JESUS:22, FRANCISCO:20, MIGUEL:20, ANTONIO:18,
        JORGE:15, MANUEL:15, DANIEL:15, ALEJANDRO:12, JAVIER:12, DAVID:12, RICARDO:10,
        FERNANDO:10, ROBERTO:10, EDUARDO:10, OSCAR:10, ANGEL:10, MARIO:9, RAFAEL:8, SERGIO:8,
        RAUL:8, PEDRO:8, VICTOR:8, ENRIQUE:7, ARTURO:7, ALBERTO:7, HECTOR:7, JULIO:6,
        ADRIAN:6, DIEGO:6, RAMON:6, RUBEN:6, ARMANDO:6, GUILLERMO:5, GUSTAVO:5, SALVADOR:5,
        ALFREDO:5, IGNACIO:4, GUADALUPE:2, REFUGIO:2
    """),
    ("hispanic", "F"): parse_weighted("""
        MARIA:70, GUADALUPE:15, ROSA:15, ANA:15, JUANA:10, MARTHA:10, ELIZABETH:10,
        PATRICIA:9, VERONICA:9, GABRIELA:8, LAURA:8, CARMEN:8, JESSICA:8, LETICIA:7,
        ALEJANDRA:7, ADRIANA:7, CLAUDIA:7, SILVIA:7, DANIELA:7, JENNIFER:7, BLANCA:6,
        YOLANDA:6, TERESA:6, SOFIA:6, STEPHANIE:6, VANESSA:6, SANDRA:6, MARGARITA:5, LUCIA:5,
        ISABEL:5, GLORIA:5, ALICIA:5, ESPERANZA:4, DOLORES:4, ROSARIO:4, ARACELI:4, IRMA:4,
        CONCEPCION:3, MERCEDES:3
    """),
    ("english", "M"): parse_weighted("""
        JAMES:30, JOHN:30, MICHAEL:30, ROBERT:28, WILLIAM:25, DAVID:25, JOSEPH:18,
        RICHARD:15, THOMAS:15, CHRISTOPHER:15, CHARLES:14, DANIEL:14, ANTHONY:12, MATTHEW:10,
        MARK:9, STEVEN:9, PAUL:8, ANDREW:8, JOSHUA:8, KEVIN:8, KENNETH:7, BRIAN:7, GEORGE:7,
        JASON:7, EDWARD:6, RONALD:6, TIMOTHY:6, JEFFREY:6, RYAN:6, JACOB:5, GARY:5,
        NICHOLAS:5, ERIC:5, JONATHAN:5, STEPHEN:5, LARRY:4, JUSTIN:4, SCOTT:4, BRANDON:4,
        BENJAMIN:4, SAMUEL:4, GREGORY:4, ALEXANDER:4, PATRICK:3, RAYMOND:3, DENNIS:3,
        ANDRE:3, TYRONE:2, DARNELL:2, MALIK:2, TERRENCE:2
    """),
    ("english", "F"): parse_weighted("""
        MARY:25, JENNIFER:18, PATRICIA:15, ELIZABETH:15, LINDA:14, JESSICA:12, SARAH:12,
        BARBARA:10, SUSAN:10, KAREN:10, LISA:9, ASHLEY:9, NANCY:8, MARGARET:8, KIMBERLY:8,
        EMILY:8, MICHELLE:8, SANDRA:7, AMANDA:7, MELISSA:7, STEPHANIE:7, BETTY:6, DONNA:6,
        DEBORAH:6, REBECCA:6, LAURA:6, ANGELA:6, NICOLE:6, KATHERINE:6, CAROL:5, SHARON:5,
        CYNTHIA:5, KATHLEEN:5, AMY:5, ANNA:5, EMMA:5, DOROTHY:4, SHIRLEY:4, BRENDA:4,
        PAMELA:4, CHRISTINE:4, DEBRA:4, RACHEL:4, CATHERINE:4, ALEXANDRA:3, TAMIKA:2,
        LATOYA:2, KEISHA:2, EBONY:2
    """),
    ("vietnamese", "M"): parse_weighted("""
        MINH:10, HUNG:8, TUAN:8, THANH:7, NAM:6, LONG:5, QUANG:5, BAO:5, DUC:5, DUNG:5,
        KHANH:4, VIET:4, HIEU:4, TRUNG:4, HAI:4
    """),
    ("vietnamese", "F"): parse_weighted("""
        LINH:8, MAI:7, ANH:7, HOA:6, LAN:6, NGOC:6, THAO:5, TRANG:5, HUONG:5, THUY:5, HANH:5,
        PHUONG:5, VY:5, TRINH:3
    """),
    ("chinese", "M"): parse_weighted("""
        WEI:6, MING:5, JIAN:4, JUN:4, HAO:4, YONG:3, JIE:3, CHI:3, KWOK:2, WING:2
    """),
    ("chinese", "F"): parse_weighted("""
        MEI:6, LI:4, YAN:4, JING:4, LING:4, YING:4, XIN:3, HUI:3, XIAO:3, FANG:3
    """),
    ("filipino", "M"): parse_weighted("""
        REYNALDO:3, ROMEO:3, ARNEL:2, ROGELIO:2, DANILO:2, EDGARDO:2, FERDINAND:2, RODEL:2
    """),
    ("filipino", "F"): parse_weighted("""
        MARIBEL:3, JOCELYN:3, CRISTINA:3, MARICEL:2, LORNA:2, ROWENA:2, MYLENE:2
    """),
    # Two-syllable Korean given names, written with a space as many intake forms do.
    ("korean", "M"): parse_weighted("""
        MIN JUN:3, JI HOON:3, SUNG HO:3, YOUNG SOO:3, JUNG HO:2, DONG HYUN:2, SEUNG WOO:2
    """),
    ("korean", "F"): parse_weighted("""
        JI YOUNG:3, MIN JI:3, SOO JIN:3, EUN JI:2, HYE JIN:2, YOUNG HEE:2, SUN HEE:2
    """),
    ("armenian", "M"): parse_weighted("""
        ARMEN:5, ARAM:4, HAYK:3, NAREK:3, DAVIT:3, ARSEN:3, TIGRAN:3, VARDAN:2, GAREGIN:2
    """),
    ("armenian", "F"): parse_weighted("""
        ANI:4, ARMINE:3, LILIT:3, NARINE:3, ANNA:3, GAYANE:3, MARINE:2, ASTGHIK:2, SONA:2
    """),
}


@dataclass(frozen=True)
class NameGroup:
    """A naming tradition: its surnames, given-name pools and usual middle-name habit."""

    name: str
    share: float  # share of households
    given_pools: Weighted[str]  # which GIVEN_NAMES pool a first name comes from
    middle_name_rate: float
    languages: Weighted[str]  # CalSAWS primary_language values


def _pools(**weights: float) -> Weighted[str]:
    return Weighted(list(weights.items()))


# Shares approximate an LA County safety-net caseload, which is more Hispanic than the county.
GROUPS: tuple[NameGroup, ...] = (
    NameGroup("hispanic", 0.55, _pools(hispanic=0.85, english=0.15), 0.55,
              parse_weighted("SPANISH:60, ENGLISH:40")),
    NameGroup("english", 0.25, _pools(english=1.0), 0.6, parse_weighted("ENGLISH:1")),
    NameGroup("vietnamese", 0.04, _pools(vietnamese=0.7, english=0.3), 0.0,
              parse_weighted("VIETNAMESE:70, ENGLISH:30")),
    NameGroup("chinese", 0.05, _pools(chinese=0.5, english=0.5), 0.15,
              parse_weighted("CANTONESE:40, MANDARIN:35, ENGLISH:25")),
    NameGroup("filipino", 0.05, _pools(filipino=0.3, english=0.4, hispanic=0.3), 0.0,
              parse_weighted("TAGALOG:30, ENGLISH:70")),
    NameGroup("korean", 0.03, _pools(korean=0.6, english=0.4), 0.1,
              parse_weighted("KOREAN:60, ENGLISH:40")),
    NameGroup("armenian", 0.03, _pools(armenian=0.8, english=0.2), 0.2,
              parse_weighted("ARMENIAN:50, ENGLISH:50")),
)
GROUP_TABLE: Weighted[NameGroup] = Weighted([(group, group.share) for group in GROUPS])

# Vietnamese middle names are mostly the gendered VAN / THI; Filipino middle names are the
# mother's maiden surname (handled in population.py). Both set middle_name_rate 0 above.
VIETNAMESE_MIDDLE = {"M": "VAN", "F": "THI"}

# Common English nicknames. Each pair is also known to the `nicknames` package (a test
# checks), so the standardizer can map them back; the package's rarer forms (HOB, DOBBIN)
# would be unrealistic to generate.
ENGLISH_NICKNAMES: dict[str, tuple[str, ...]] = {
    "WILLIAM": ("BILL", "WILL", "BILLY"), "ROBERT": ("BOB", "ROB", "BOBBY"),
    "JAMES": ("JIM", "JIMMY"), "JOHN": ("JACK", "JOHNNY"), "MICHAEL": ("MIKE",),
    "RICHARD": ("RICK", "RICH", "DICK"), "THOMAS": ("TOM", "TOMMY"), "CHRISTOPHER": ("CHRIS",),
    "DANIEL": ("DAN", "DANNY"), "JOSEPH": ("JOE", "JOEY"), "DAVID": ("DAVE",),
    "ANTHONY": ("TONY",), "MATTHEW": ("MATT",), "CHARLES": ("CHARLIE", "CHUCK"),
    "KENNETH": ("KEN", "KENNY"), "JEFFREY": ("JEFF",), "TIMOTHY": ("TIM",),
    "RONALD": ("RON", "RONNIE"), "GREGORY": ("GREG",), "ANDREW": ("ANDY", "DREW"),
    "JONATHAN": ("JON",), "STEPHEN": ("STEVE",), "STEVEN": ("STEVE",), "EDWARD": ("ED", "EDDIE"),
    "SAMUEL": ("SAM",), "BENJAMIN": ("BEN",), "NICHOLAS": ("NICK",), "ALEXANDER": ("ALEX",),
    "JACOB": ("JAKE",), "JOSHUA": ("JOSH",), "RAYMOND": ("RAY",), "PATRICK": ("PAT",),
    "ELIZABETH": ("LIZ", "BETH", "BETTY"), "JENNIFER": ("JENNY", "JEN"),
    "KATHERINE": ("KATHY", "KATE"), "CATHERINE": ("CATHY",), "KATHLEEN": ("KATHY",),
    "PATRICIA": ("PAT", "PATTY", "TRISH"), "MARGARET": ("PEGGY", "MAGGIE"),
    "SUSAN": ("SUE", "SUSIE"), "REBECCA": ("BECKY",), "DEBORAH": ("DEBBIE", "DEB"),
    "JESSICA": ("JESS", "JESSIE"), "KIMBERLY": ("KIM",), "CYNTHIA": ("CINDY",),
    "PAMELA": ("PAM",), "CHRISTINE": ("CHRIS", "TINA"), "SANDRA": ("SANDY",),
    "AMANDA": ("MANDY",), "MELISSA": ("MISSY",), "DOROTHY": ("DOT", "DOTTIE"),
    "ALEXANDRA": ("ALEX",),
}

# Spanish and California usage the `nicknames` package lacks; the standardizer needs the
# same supplement (DESIGN.md section 5).
SPANISH_NICKNAMES: dict[str, tuple[str, ...]] = {
    "JOSE": ("PEPE", "CHEPE"), "FRANCISCO": ("PANCHO", "PACO"), "GUADALUPE": ("LUPE", "LUPITA"),
    "JESUS": ("CHUY",), "ENRIQUE": ("KIKE",), "ALEJANDRO": ("ALEX",), "ROBERTO": ("BETO",),
    "ALBERTO": ("BETO",), "EDUARDO": ("LALO",), "IGNACIO": ("NACHO",), "GUILLERMO": ("MEMO",),
    "ANTONIO": ("TONY", "TONO"), "MANUEL": ("MANNY",), "RAFAEL": ("RAFA",),
    "REFUGIO": ("CUCO",), "FERNANDO": ("NANDO",), "CONCEPCION": ("CONCHA", "CONCHITA"),
    "DOLORES": ("LOLA",), "ROSARIO": ("CHARO",), "GABRIELA": ("GABY",), "MERCEDES": ("MECHE",),
}

NICKNAMES: dict[str, tuple[str, ...]] = {**ENGLISH_NICKNAMES, **SPANISH_NICKNAMES}

# Spellings with diacritics that EHR and HMIS systems keep and CalSAWS drops.
ACCENTED: dict[str, str] = {
    "JOSE": "JOSÉ", "MARIA": "MARÍA", "JESUS": "JESÚS", "RAMON": "RAMÓN", "RAUL": "RAÚL",
    "RUBEN": "RUBÉN", "HECTOR": "HÉCTOR", "ANGEL": "ÁNGEL", "LUCIA": "LUCÍA", "SOFIA": "SOFÍA",
    "CONCEPCION": "CONCEPCIÓN", "MARTINEZ": "MARTÍNEZ", "HERNANDEZ": "HERNÁNDEZ",
    "LOPEZ": "LÓPEZ", "GONZALEZ": "GONZÁLEZ", "RODRIGUEZ": "RODRÍGUEZ", "PEREZ": "PÉREZ",
    "SANCHEZ": "SÁNCHEZ", "RAMIREZ": "RAMÍREZ", "GOMEZ": "GÓMEZ", "DIAZ": "DÍAZ",
    "GUTIERREZ": "GUTIÉRREZ", "ALVAREZ": "ÁLVAREZ", "JIMENEZ": "JIMÉNEZ", "CHAVEZ": "CHÁVEZ",
    "VASQUEZ": "VÁSQUEZ", "FERNANDEZ": "FERNÁNDEZ", "JUAREZ": "JUÁREZ",
    "DOMINGUEZ": "DOMÍNGUEZ", "MUNOZ": "MUÑOZ", "NUNEZ": "NÚÑEZ", "PENA": "PEÑA",
}


def given_name(rng, group: NameGroup, sex: str) -> str:
    """Draw a first (or middle) name for someone of `group` and `sex` ("M"/"F")."""
    pool = group.given_pools.draw(rng)
    return GIVEN_NAMES[(pool, sex)].draw(rng)
